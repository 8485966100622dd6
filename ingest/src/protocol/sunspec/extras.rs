//! A record's extras (the values kept under their point's name, not as canonical metrics):
//! gathered by the point they came from, and made the reading's in name order, each name once.
//! Consecutive records of one device keep the same points, so the order worked out for one
//! record serves the next while its points and their names are the same.

use std::collections::BTreeMap;

use heliograph_shared::Metrics;

use super::point::Point;

/// One record's extras, and the order worked out for an earlier record's.
#[derive(Debug, Default)]
pub(super) struct Extras {
    /// This record's: the point slot each came from, and its value, in the order found.
    found: Vec<(usize, f64)>,
    /// The point slots `order` was worked out for, in the order found, and the layout version
    /// of the record's points then (see `Record::layout`).
    known: Option<(Vec<usize>, u64)>,
    /// Positions in `found`: the first of each name, in name order.
    order: Vec<usize>,
    /// A map of `order`'s names, for each record's map to be cloned from and given its values:
    /// a clone copies the names, where building a map sorts and moves its entries first.
    names: BTreeMap<String, f64>,
}

impl Extras {
    /// Forgets the previous record's values, keeping the order worked out for it.
    pub(super) fn clear(&mut self) {
        self.found.clear();
    }

    /// Keeps the value of the point in `slot`; of points of the same name, the first found wins.
    pub(super) fn push(&mut self, slot: usize, value: f64) {
        self.found.push((slot, value));
    }

    /// Makes the extras `metrics`' own (it has none yet), each checked; `points` are the
    /// record's point slots, named as they were when `layout` was the record's layout version.
    pub(super) fn collect(
        &mut self,
        points: &[Point],
        layout: u64,
        metrics: &mut Metrics,
    ) -> Result<(), String> {
        if self.found.is_empty() {
            return Ok(());
        }
        let name = |slot: usize| points.get(slot).and_then(Point::meaning).map_or("", |m| m.name.as_str());
        let same = self.known.as_ref().is_some_and(|(slots, version)| {
            *version == layout && slots.iter().copied().eq(self.found.iter().map(|&(slot, _)| slot))
        });
        if !same {
            self.known = None;
            let found = &self.found;
            self.order.clear();
            self.order.extend(0..found.len());
            // Stable: of equal names, the first found stays first and the others are dropped.
            self.order.sort_by(|&a, &b| name(found[a].0).cmp(name(found[b].0)));
            self.order.dedup_by(|later, earlier| name(found[*later].0) == name(found[*earlier].0));
            for &at in &self.order {
                Metrics::check_extra_name(name(found[at].0)).map_err(|e| e.to_string())?;
            }
            self.names = self.order.iter().map(|&at| (name(found[at].0).to_owned(), 0.0)).collect();
        }
        let mut extra = self.names.clone();
        // The map's names are `order`'s, in the same order.
        for (kept, &at) in extra.values_mut().zip(&self.order) {
            let (slot, value) = self.found[at];
            Metrics::check_value(name(slot), value).map_err(|e| e.to_string())?;
            *kept = value;
        }
        metrics.extra = extra;
        if !same {
            self.known = Some((self.found.iter().map(|&(slot, _)| slot).collect(), layout));
        }
        Ok(())
    }
}
