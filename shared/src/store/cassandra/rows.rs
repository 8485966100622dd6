//! Conversions between Cassandra rows and domain types: the values bound to writes and the
//! rows read back, checked again on the way in ("parse, don't validate").

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use scylla::value::{CqlTimeuuid, MaybeUnset};
use scylla::{DeserializeRow, SerializeRow};
use uuid::Uuid;

use super::keys;
use crate::domain::{
    Customer, CustomerId, Device, DeviceId, DeviceKind, DeviceStatus, EmailAddress, Gateway, GatewayId,
    Metric, Metrics, QuarantinedReading, Reading, RefusalReason, RefusedGateway, SiteAlerting, SiteLocation,
    TokenHash,
};
use crate::store::StoreError;

/// The columns [`ReadingRow`] reads, in any order.
pub(super) const READING_COLUMNS: &str = "gateway, device, ts, status, ac_power, dc_power, energy, ac_voltage,
    ac_current, dc_voltage, dc_current, frequency, temperature, irradiance, import_energy, export_energy, extra";

/// The values of a reading's upsert. Absent values are left unset rather than written as
/// nulls, so a write never leaves tombstones in a readings partition.
#[derive(SerializeRow)]
pub(super) struct ReadingValues<'a> {
    gateway: &'a str,
    device: &'a str,
    day: i32,
    ts: DateTime<Utc>,
    status: MaybeUnset<&'a str>,
    ac_power: MaybeUnset<f64>,
    dc_power: MaybeUnset<f64>,
    energy: MaybeUnset<f64>,
    ac_voltage: MaybeUnset<f64>,
    ac_current: MaybeUnset<f64>,
    dc_voltage: MaybeUnset<f64>,
    dc_current: MaybeUnset<f64>,
    frequency: MaybeUnset<f64>,
    temperature: MaybeUnset<f64>,
    irradiance: MaybeUnset<f64>,
    import_energy: MaybeUnset<f64>,
    export_energy: MaybeUnset<f64>,
    extra: MaybeUnset<&'a BTreeMap<String, f64>>,
}

impl<'a> ReadingValues<'a> {
    /// The values that store `reading` in its day partition.
    pub(super) fn new(reading: &'a Reading) -> Self {
        let m = &reading.metrics;
        let value = |metric| MaybeUnset::from_option(m.get(metric));
        Self {
            gateway: reading.gateway.as_str(),
            device: reading.device.as_str(),
            day: keys::day(reading.ts),
            ts: reading.ts,
            status: MaybeUnset::from_option(reading.status.as_ref().map(DeviceStatus::as_str)),
            ac_power: value(Metric::AcPower),
            dc_power: value(Metric::DcPower),
            energy: value(Metric::Energy),
            ac_voltage: value(Metric::AcVoltage),
            ac_current: value(Metric::AcCurrent),
            dc_voltage: value(Metric::DcVoltage),
            dc_current: value(Metric::DcCurrent),
            frequency: value(Metric::Frequency),
            temperature: value(Metric::Temperature),
            irradiance: value(Metric::Irradiance),
            import_energy: value(Metric::ImportEnergy),
            export_energy: value(Metric::ExportEnergy),
            extra: if m.extra.is_empty() { MaybeUnset::Unset } else { MaybeUnset::Set(&m.extra) },
        }
    }
}

/// A reading as stored.
#[derive(DeserializeRow)]
pub(super) struct ReadingRow {
    gateway: String,
    device: String,
    ts: DateTime<Utc>,
    status: Option<String>,
    ac_power: Option<f64>,
    dc_power: Option<f64>,
    energy: Option<f64>,
    ac_voltage: Option<f64>,
    ac_current: Option<f64>,
    dc_voltage: Option<f64>,
    dc_current: Option<f64>,
    frequency: Option<f64>,
    temperature: Option<f64>,
    irradiance: Option<f64>,
    import_energy: Option<f64>,
    export_energy: Option<f64>,
    #[scylla(default_when_null)]
    extra: BTreeMap<String, f64>,
}

impl TryFrom<ReadingRow> for Reading {
    type Error = StoreError;

    fn try_from(row: ReadingRow) -> Result<Self, StoreError> {
        let mut metrics = Metrics::default();
        for (metric, value) in [
            (Metric::AcPower, row.ac_power),
            (Metric::DcPower, row.dc_power),
            (Metric::Energy, row.energy),
            (Metric::AcVoltage, row.ac_voltage),
            (Metric::AcCurrent, row.ac_current),
            (Metric::DcVoltage, row.dc_voltage),
            (Metric::DcCurrent, row.dc_current),
            (Metric::Frequency, row.frequency),
            (Metric::Temperature, row.temperature),
            (Metric::Irradiance, row.irradiance),
            (Metric::ImportEnergy, row.import_energy),
            (Metric::ExportEnergy, row.export_energy),
        ] {
            metrics.set_unchecked(metric, value);
        }
        metrics.extra = row.extra;
        Ok(Reading {
            gateway: GatewayId::parse(&row.gateway)?,
            device: DeviceId::parse(&row.device)?,
            ts: row.ts,
            status: row.status.map(|s| DeviceStatus::from_word(&s)),
            metrics,
        })
    }
}

/// The values of a customer's insert (all columns: a customer is replaced whole).
pub(super) fn customer_values(customer: &Customer) -> (Uuid, &str, Vec<&str>, &str, bool) {
    (
        customer.id.0,
        &customer.name,
        customer.emails.iter().map(EmailAddress::as_str).collect(),
        customer.timezone.name(),
        customer.active,
    )
}

/// A customer as stored.
#[derive(DeserializeRow)]
pub(super) struct CustomerRow {
    id: Uuid,
    name: String,
    #[scylla(default_when_null)]
    emails: Vec<String>,
    timezone: String,
    active: bool,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;

    fn try_from(row: CustomerRow) -> Result<Self, StoreError> {
        Ok(Customer {
            id: CustomerId(row.id),
            name: row.name,
            emails: row
                .emails
                .iter()
                .map(|email| EmailAddress::parse(email).map_err(|e| StoreError::Corrupt(e.into())))
                .collect::<Result<_, _>>()?,
            timezone: row
                .timezone
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("unknown timezone {:?}", row.timezone).into()))?,
            active: row.active,
        })
    }
}

/// The values of a gateway's insert (all columns: a gateway is replaced whole).
pub(super) type GatewayValues<'a> = (
    &'a str,
    Option<Uuid>,
    &'a str,
    f64,
    &'a [u8],
    Option<&'a [u8]>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    bool,
    Option<f64>,
    Option<f64>,
    Option<i32>,
    Option<i32>,
    Option<DateTime<Utc>>,
);

/// The values that store `gateway`.
pub(super) fn gateway_values(gateway: &Gateway) -> GatewayValues<'_> {
    (
        gateway.id.as_str(),
        gateway.customer.map(|c| c.0),
        &gateway.site_name,
        gateway.capacity_kwp,
        gateway.token_hash.as_bytes(),
        gateway.previous_token.as_ref().map(|(hash, _)| hash.as_bytes().as_slice()),
        gateway.previous_token.as_ref().map(|(_, until)| *until),
        gateway.last_seen,
        gateway.active,
        gateway.location.map(|l| l.latitude()),
        gateway.location.map(|l| l.longitude()),
        gateway.alerting.offline_after_minutes.map(|m| i32::try_from(m).unwrap_or(i32::MAX)),
        gateway.alerting.underperformance_percent.map(i32::from),
        gateway.alerting.maintenance_until,
    )
}

/// The columns [`GatewayRow`] reads.
pub(super) const GATEWAY_COLUMNS: &str =
    "id, customer, site_name, capacity_kwp, token_hash, previous_token_hash,
    previous_token_until, last_seen, active, latitude, longitude, offline_after_minutes,
    underperformance_percent, maintenance_until";

/// A gateway row as stored. Every column but the key is nullable: a last-seen update of an id
/// that has no gateway row leaves a row with `last_seen` only, which is not a gateway.
#[derive(DeserializeRow)]
pub(super) struct GatewayRow {
    id: String,
    customer: Option<Uuid>,
    site_name: Option<String>,
    capacity_kwp: Option<f64>,
    token_hash: Option<Vec<u8>>,
    previous_token_hash: Option<Vec<u8>>,
    previous_token_until: Option<DateTime<Utc>>,
    last_seen: Option<DateTime<Utc>>,
    active: Option<bool>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    offline_after_minutes: Option<i32>,
    underperformance_percent: Option<i32>,
    maintenance_until: Option<DateTime<Utc>>,
}

impl GatewayRow {
    /// The gateway this row describes; `None` for a row without a token (see [`GatewayRow`]).
    pub(super) fn into_gateway(self) -> Result<Option<Gateway>, StoreError> {
        let Some(token_hash) = self.token_hash else {
            return Ok(None);
        };
        let hash = |bytes: &[u8]| {
            TokenHash::from_bytes(bytes)
                .ok_or_else(|| StoreError::Corrupt("token hash is not 32 bytes".into()))
        };
        let missing =
            |column: &str| StoreError::Corrupt(format!("gateway {} has no {column}", self.id).into());
        let previous_token = match (&self.previous_token_hash, self.previous_token_until) {
            (Some(h), Some(until)) => Some((hash(h)?, until)),
            _ => None,
        };
        Ok(Some(Gateway {
            id: GatewayId::parse(&self.id)?,
            customer: self.customer.map(CustomerId),
            site_name: self.site_name.clone().ok_or_else(|| missing("site_name"))?,
            capacity_kwp: self.capacity_kwp.ok_or_else(|| missing("capacity_kwp"))?,
            token_hash: hash(&token_hash)?,
            previous_token,
            last_seen: self.last_seen,
            active: self.active.ok_or_else(|| missing("active"))?,
            location: SiteLocation::from_coordinates(self.latitude, self.longitude)?,
            alerting: SiteAlerting {
                offline_after_minutes: self.offline_after_minutes.and_then(|m| u32::try_from(m).ok()),
                underperformance_percent: self.underperformance_percent.and_then(|p| u8::try_from(p).ok()),
                maintenance_until: self.maintenance_until,
            },
        }))
    }
}

/// The values of a device's upsert: details the gateway did not send are left unset, so the
/// ones known from earlier documents stay.
pub(super) type DeviceValues<'a> = (
    &'a str,
    &'a str,
    &'static str,
    MaybeUnset<&'a str>,
    MaybeUnset<&'a str>,
    MaybeUnset<&'a str>,
    MaybeUnset<DateTime<Utc>>,
);

/// The values that store `device`.
pub(super) fn device_values(device: &Device) -> DeviceValues<'_> {
    (
        device.gateway.as_str(),
        device.id.as_str(),
        device.kind.as_str(),
        MaybeUnset::from_option(device.manufacturer.as_deref()),
        MaybeUnset::from_option(device.model.as_deref()),
        MaybeUnset::from_option(device.serial.as_deref()),
        MaybeUnset::from_option(device.last_seen),
    )
}

/// A device as stored.
#[derive(DeserializeRow)]
pub(super) struct DeviceRow {
    gateway: String,
    id: String,
    kind: String,
    manufacturer: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    last_seen: Option<DateTime<Utc>>,
}

impl TryFrom<DeviceRow> for Device {
    type Error = StoreError;

    fn try_from(row: DeviceRow) -> Result<Self, StoreError> {
        Ok(Device {
            gateway: GatewayId::parse(&row.gateway)?,
            id: DeviceId::parse(&row.id)?,
            kind: DeviceKind::from_word(&row.kind),
            manufacturer: row.manufacturer,
            model: row.model,
            serial: row.serial,
            last_seen: row.last_seen,
        })
    }
}

/// The values of a quarantined reading's insert.
pub(super) type QuarantineValues<'a> =
    (i32, CqlTimeuuid, &'a str, Option<i64>, &'a str, &'a str, &'a str, &'a str);

/// The values that store `q`, the `index`-th quarantined reading of its document.
pub(super) fn quarantine_values(
    q: &QuarantinedReading,
    index: usize,
) -> Result<QuarantineValues<'_>, StoreError> {
    Ok((
        keys::day(q.received_at),
        keys::quarantine_id(q.received_at, index)?,
        q.gateway.as_str(),
        q.seq.map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        &q.device,
        &q.ts,
        &q.reason,
        &q.content,
    ))
}

/// A quarantined reading as stored (`received_at` read through `toTimestamp`).
#[derive(DeserializeRow)]
pub(super) struct QuarantineRow {
    received_at: DateTime<Utc>,
    gateway: String,
    seq: Option<i64>,
    device: String,
    ts: String,
    reason: String,
    content: String,
}

impl TryFrom<QuarantineRow> for QuarantinedReading {
    type Error = StoreError;

    fn try_from(row: QuarantineRow) -> Result<Self, StoreError> {
        Ok(QuarantinedReading {
            gateway: GatewayId::parse(&row.gateway)?,
            received_at: row.received_at,
            seq: row.seq.and_then(|s| u64::try_from(s).ok()),
            device: row.device,
            ts: row.ts,
            reason: row.reason,
            content: row.content,
        })
    }
}

/// A refused gateway as stored.
#[derive(DeserializeRow)]
pub(super) struct RefusalRow {
    gateway: String,
    reason: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    attempts: i64,
    last_address: String,
}

impl TryFrom<RefusalRow> for RefusedGateway {
    type Error = StoreError;

    fn try_from(row: RefusalRow) -> Result<Self, StoreError> {
        Ok(RefusedGateway {
            gateway: GatewayId::parse(&row.gateway)?,
            reason: RefusalReason::from_word(&row.reason).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown refusal reason {:?}", row.reason).into())
            })?,
            first_seen: row.first_seen,
            last_seen: row.last_seen,
            attempts: u64::try_from(row.attempts).unwrap_or(0),
            last_address: row.last_address,
        })
    }
}

/// Converts every row, failing on the first that does not convert.
pub(super) fn convert<R, T>(rows: Vec<R>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<R, Error = StoreError>,
{
    rows.into_iter().map(T::try_from).collect()
}
