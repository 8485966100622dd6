//! Keys computed from domain values: the day partitions that bound readings and quarantine
//! rows, and the time-based UUIDs that order quarantined readings.

use std::ops::{Range, RangeInclusive};

use chrono::{DateTime, Utc};
use scylla::value::CqlTimeuuid;

use crate::store::StoreError;

const DAY_MS: i64 = 86_400_000;

/// The first day a query looks at: 1970-01-01. Nothing older is a solar measurement.
const FIRST_DAY: i32 = 0;

/// The last day a query looks at: 2199-12-31, so that an open-ended range stays a finite scan.
const LAST_DAY: i32 = 84_005;

/// Days since the Unix epoch of `ts` in UTC: the `day` partition key.
pub(super) fn day(ts: DateTime<Utc>) -> i32 {
    let day = ts.timestamp_millis().div_euclid(DAY_MS);
    i32::try_from(day).unwrap_or(if day < 0 { i32::MIN } else { i32::MAX })
}

/// The day partitions that can hold rows with `range.start <= ts < range.end`, at millisecond
/// precision (the precision of a CQL timestamp), limited to the days queries look at.
pub(super) fn days(range: &Range<DateTime<Utc>>) -> RangeInclusive<i32> {
    let start = range.start.timestamp_millis();
    let end = range.end.timestamp_millis();
    if start >= end {
        #[allow(clippy::reversed_empty_ranges)] // deliberately empty
        return 1..=0;
    }
    let first = day_of_millis(start).max(FIRST_DAY);
    let last = day_of_millis(end - 1).min(LAST_DAY);
    first..=last
}

fn day_of_millis(ms: i64) -> i32 {
    i32::try_from(ms.div_euclid(DAY_MS)).unwrap_or(if ms < 0 { i32::MIN } else { i32::MAX })
}

/// 100-nanosecond intervals between the UUID epoch (1582-10-15) and the Unix epoch.
const UUID_EPOCH_OFFSET: i64 = 0x01B2_1DD2_1381_4000;

/// Intervals of 100 ns in a millisecond.
const TICKS_PER_MS: i64 = 10_000;

/// A version 1 (time-based) UUID for a quarantined reading received at `received_at`, the
/// `index`-th of its document: its time is `received_at` (to the millisecond) plus `index`
/// ticks, so a document's readings sort in their document order within the millisecond, and its
/// clock sequence and node are random, so two servers never produce the same key.
pub(super) fn quarantine_id(received_at: DateTime<Utc>, index: usize) -> Result<CqlTimeuuid, StoreError> {
    let index = i64::try_from(index).unwrap_or(i64::MAX).min(TICKS_PER_MS - 1);
    let ticks = received_at
        .timestamp_millis()
        .checked_mul(TICKS_PER_MS)
        .and_then(|t| t.checked_add(UUID_EPOCH_OFFSET))
        .and_then(|t| t.checked_add(index))
        .and_then(|t| u64::try_from(t).ok())
        .filter(|t| *t < (1 << 60))
        .ok_or_else(|| {
            StoreError::Backend(
                format!("receipt time {received_at} cannot be stored in a time-based UUID").into(),
            )
        })?;
    let random: [u8; 8] = rand::random();
    let time_low = (ticks & 0xFFFF_FFFF) as u32;
    let time_mid = ((ticks >> 32) & 0xFFFF) as u16;
    let time_high_and_version = (((ticks >> 48) & 0x0FFF) as u16) | 0x1000;
    let mut tail = random;
    // RFC 4122 variant in the clock sequence's top bits.
    tail[0] = (tail[0] & 0x3F) | 0x80;
    Ok(CqlTimeuuid::from_fields(time_low, time_mid, time_high_and_version, &tail))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};

    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).single().expect("valid date")
    }

    #[test]
    fn a_day_is_counted_from_the_unix_epoch_in_utc() {
        assert_eq!(day(at(1970, 1, 1, 0, 0)), 0);
        assert_eq!(day(at(1970, 1, 1, 23, 59)), 0);
        assert_eq!(day(at(1970, 1, 2, 0, 0)), 1);
        assert_eq!(day(at(1969, 12, 31, 23, 59)), -1);
        assert_eq!(day(at(2026, 6, 1, 12, 0)), 20_605);
    }

    #[test]
    fn a_range_covers_the_days_of_its_start_up_to_the_day_before_an_exclusive_midnight_end() {
        let start = at(2026, 6, 1, 22, 0);
        assert_eq!(days(&(start..at(2026, 6, 2, 0, 0))), 20_605..=20_605);
        assert_eq!(days(&(start..at(2026, 6, 2, 0, 0) + TimeDelta::milliseconds(1))), 20_605..=20_606);
        assert!(days(&(start..start)).is_empty());
        assert!(days(&(start..start - TimeDelta::hours(1))).is_empty());
    }

    #[test]
    fn open_ended_ranges_are_limited_to_days_that_can_hold_data() {
        let everything = DateTime::<Utc>::MIN_UTC..DateTime::<Utc>::MAX_UTC;
        assert_eq!(days(&everything), FIRST_DAY..=LAST_DAY);
        assert_eq!(day(at(2199, 12, 31, 12, 0)), LAST_DAY);
    }

    #[test]
    fn quarantine_ids_carry_the_receipt_time_and_sort_by_index_within_a_millisecond() {
        let received = at(2026, 6, 1, 12, 0);
        let first = quarantine_id(received, 0).expect("in range");
        let second = quarantine_id(received, 1).expect("in range");
        let uuid = *first.as_ref();
        assert_eq!(uuid.get_version_num(), 1);
        let (seconds, nanos) = uuid.get_timestamp().expect("a time-based UUID").to_unix();
        assert_eq!((seconds, nanos), (u64::try_from(received.timestamp()).expect("after 1970"), 0));
        let (_, later_nanos) = second.as_ref().get_timestamp().expect("a time-based UUID").to_unix();
        assert_eq!(later_nanos, 100);
        assert_ne!(first, quarantine_id(received, 0).expect("in range"), "random node per id");
    }
}
