//! Server-rendered SVG charts: a power curve for the day view and energy bars for month and
//! year views. Axes carry units, time labels are in the site's timezone, and every bar or hour
//! has a `<title>` tooltip, so the charts need no JavaScript. Colours come from the stylesheet
//! (classes `s0`, `s1`, …), which keeps the markup free of inline styles the CSP would block.
//!
//! Each chart is drawn twice, for a wide and for a narrow screen, and the stylesheet shows one:
//! an SVG scales its text with its width, so one drawing cannot keep tick labels legible from a
//! wall screen down to a phone. The narrow drawing has a smaller canvas, fewer ticks and no
//! per-bar values where they would overlap.

use std::fmt::Write as _;
use std::ops::Range;

use chrono::{DateTime, TimeDelta, Timelike, Utc};
use chrono_tz::Tz;

use crate::format;

/// The canvas and the density of labels of one drawing.
struct Layout {
    /// The SVG's class, which the stylesheet uses to show one drawing per screen width.
    class: &'static str,
    width: f64,
    height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    /// Local hours between time ticks on a power chart.
    hour_step: u32,
    /// Below this slot width a bar carries no value label.
    min_value_slot: f64,
    /// The narrowest slot that holds an axis label; narrower slots label every n-th bar.
    min_label_slot: f64,
    /// Room for one character of legend text.
    legend_char: f64,
}

/// Desktop and wall screens: the canvas is drawn at about its own size.
const WIDE: Layout = Layout {
    class: "chart",
    width: 960.0,
    height: 340.0,
    left: 64.0,
    right: 16.0,
    top: 40.0,
    bottom: 36.0,
    hour_step: 3,
    min_value_slot: 0.0,
    min_label_slot: 0.0,
    legend_char: 8.0,
};

/// Phones: a canvas about as wide as a phone's screen, so 12-unit text stays near 12 px.
const NARROW: Layout = Layout {
    class: "chart-narrow",
    width: 400.0,
    height: 280.0,
    left: 40.0,
    right: 8.0,
    top: 36.0,
    bottom: 28.0,
    hour_step: 6,
    min_value_slot: 26.0,
    min_label_slot: 24.0,
    legend_char: 7.0,
};

/// Points further apart than this are not joined by a line.
const LINE_GAP: TimeDelta = TimeDelta::minutes(15);

/// One line of a power chart, W.
#[derive(Debug, Clone)]
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points in time order.
    pub points: Vec<(DateTime<Utc>, f64)>,
}

/// One bar of an energy chart.
#[derive(Debug, Clone)]
pub struct Bar {
    /// Axis label ("21", "Jun").
    pub label: String,
    /// Height, in the chart's unit; none where nothing was measured (a gap, not a zero bar).
    pub value: Option<f64>,
    /// Why a gap is empty, as a class the stylesheet draws it by ("no-data", "future", …).
    pub gap: &'static str,
    /// Tooltip.
    pub title: String,
    /// Where clicking the bar leads (the day of a month, the month of a year).
    pub href: Option<String>,
}

/// Escapes text for SVG content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Round tick values covering `low..=high`, about `target` of them.
fn ticks(low: f64, high: f64, target: usize) -> Vec<f64> {
    let span = (high - low).max(f64::EPSILON);
    let rough = span / target.max(1) as f64;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step =
        [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * magnitude).find(|s| *s >= rough).unwrap_or(rough);
    let first = (low / step).floor() as i64;
    let last = (high / step).ceil() as i64;
    (first..=last).map(|i| ((i as f64 * step) * 1e9).round() / 1e9).collect()
}

/// A tick label without needless decimals.
fn tick_label(value: f64) -> String {
    if value == value.trunc() { format!("{value:.0}") } else { format!("{value:.1}") }
}

struct Frame<'a> {
    layout: &'a Layout,
    y_low: f64,
    y_high: f64,
}

impl Frame<'_> {
    fn plot_width(&self) -> f64 {
        self.layout.width - self.layout.left - self.layout.right
    }

    fn plot_height(&self) -> f64 {
        self.layout.height - self.layout.top - self.layout.bottom
    }

    fn y(&self, value: f64) -> f64 {
        self.layout.top + (self.y_high - value) / (self.y_high - self.y_low) * self.plot_height()
    }

    /// Grid lines, y tick labels and the unit above the axis.
    fn y_axis(&self, out: &mut String, ticks: &[f64], unit: &str) {
        let Layout { left, right, width, top, .. } = *self.layout;
        for value in ticks {
            let y = self.y(*value);
            let class = if *value == 0.0 { "axis" } else { "grid" };
            let _ = write!(
                out,
                r#"<line class="{class}" x1="{left}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                width - right,
                left - 6.0,
                y + 4.0,
                tick_label(*value)
            );
        }
        let _ = write!(
            out,
            r#"<text class="unit" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 6.0,
            top - 14.0,
            escape(unit)
        );
    }
}

fn open_svg(out: &mut String, layout: &Layout, label: &str) {
    let _ = write!(
        out,
        r#"<svg class="{}" viewBox="0 0 {} {}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        layout.class,
        layout.width,
        layout.height,
        escape(label)
    );
}

/// A power chart over `span`: one line per series, hours labelled in `tz`, a tooltip per hour
/// with each series' mean power.
pub fn power_chart(series: &[Series], span: Range<DateTime<Utc>>, tz: Tz) -> String {
    let mut out = String::with_capacity(32 * 1024);
    for layout in [&WIDE, &NARROW] {
        draw_power(&mut out, layout, series, span.clone(), tz);
    }
    out
}

fn draw_power(out: &mut String, layout: &Layout, series: &[Series], span: Range<DateTime<Utc>>, tz: Tz) {
    let Layout { left, top, height, bottom, .. } = *layout;
    let values = series.iter().flat_map(|s| s.points.iter().map(|(_, v)| *v));
    let (low, high) = values.fold((0.0f64, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (scale, unit) = if low.abs().max(high) >= 1_000.0 { (1_000.0, "kW") } else { (1.0, "W") };
    let ticks = ticks(low / scale, (high / scale).max(if scale > 1.0 { 1.0 } else { 100.0 }), 5);
    let frame = Frame { layout, y_low: ticks[0], y_high: ticks[ticks.len() - 1] };
    let seconds = (span.end - span.start).num_seconds().max(1) as f64;
    let x = |t: DateTime<Utc>| left + (t - span.start).num_seconds() as f64 / seconds * frame.plot_width();

    open_svg(out, layout, "Power through the day");
    frame.y_axis(out, &ticks, unit);

    // A time tick every few local hours.
    let mut at = span.start;
    while at <= span.end {
        let local = at.with_timezone(&tz);
        if local.minute() == 0 && local.hour().is_multiple_of(layout.hour_step) {
            let px = x(at);
            // The label at the right edge ends there rather than spilling out of the canvas.
            let anchor = if px > layout.width - layout.right - 16.0 { "end" } else { "middle" };
            let _ = write!(
                out,
                r#"<line class="grid" x1="{px:.1}" x2="{px:.1}" y1="{top}" y2="{:.1}"/><text class="tick" x="{px:.1}" y="{:.1}" text-anchor="{anchor}">{}</text>"#,
                height - bottom,
                height - bottom + 18.0,
                local.format("%H:%M")
            );
        }
        at += TimeDelta::minutes(15);
    }

    let zero = frame.y(0.0);
    for (index, s) in series.iter().enumerate() {
        let class = format!("s{}", index % 6);
        for segment in segments(&s.points) {
            let mut line = String::new();
            for (i, (t, v)) in segment.iter().enumerate() {
                let _ =
                    write!(line, "{}{:.1},{:.1}", if i == 0 { "M" } else { " L" }, x(*t), frame.y(v / scale));
            }
            let (first, last) = (segment[0].0, segment[segment.len() - 1].0);
            let _ = write!(
                out,
                r#"<path class="area {class}" d="{line} L{:.1},{zero:.1} L{:.1},{zero:.1} Z"/><path class="line {class}" d="{line}"/>"#,
                x(last),
                x(first)
            );
        }
    }

    // One hover target per hour, its tooltip listing each series' mean.
    let mut hour = span.start;
    while hour < span.end {
        let end = (hour + TimeDelta::hours(1)).min(span.end);
        let mut title = format!("{}–{}", format::local_time(hour, tz), format::local_time(end, tz));
        for s in series {
            let inside: Vec<f64> =
                s.points.iter().filter(|(t, _)| *t >= hour && *t < end).map(|(_, v)| *v).collect();
            if !inside.is_empty() {
                let mean = inside.iter().sum::<f64>() / inside.len() as f64;
                let _ = write!(title, "\n{}: {} (mean)", s.name, format::power(mean));
            }
        }
        let _ = write!(
            out,
            r#"<rect class="hover" x="{:.1}" y="{top}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
            x(hour),
            (x(end) - x(hour)).max(0.0),
            frame.plot_height(),
            escape(&title)
        );
        hour = end;
    }

    legend(out, layout, series.iter().map(|s| s.name.as_str()));
    out.push_str("</svg>");
}

/// Runs of points with no gap longer than [`LINE_GAP`].
fn segments(points: &[(DateTime<Utc>, f64)]) -> Vec<&[(DateTime<Utc>, f64)]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=points.len() {
        if i == points.len() || points[i].0 - points[i - 1].0 > LINE_GAP {
            if i > start {
                out.push(&points[start..i]);
            }
            start = i;
        }
    }
    out
}

fn legend<'a>(out: &mut String, layout: &Layout, names: impl Iterator<Item = &'a str>) {
    let mut x = layout.left + 8.0;
    for (index, name) in names.enumerate() {
        let _ = write!(
            out,
            r#"<rect class="swatch s{}" x="{x:.1}" y="8" width="12" height="12" rx="2"/><text class="legend" x="{:.1}" y="18">{}</text>"#,
            index % 6,
            x + 16.0,
            escape(name)
        );
        x += 28.0 + layout.legend_char * name.chars().count() as f64;
    }
}

/// An energy bar chart in `unit`, a value label on each bar and a tooltip per bar.
pub fn bar_chart(bars: &[Bar], unit: &str, label: &str) -> String {
    let mut out = String::with_capacity(16 * 1024);
    for layout in [&WIDE, &NARROW] {
        draw_bars(&mut out, layout, bars, unit, label);
    }
    out
}

fn draw_bars(out: &mut String, layout: &Layout, bars: &[Bar], unit: &str, label: &str) {
    let high = bars.iter().filter_map(|b| b.value).fold(0.0f64, f64::max);
    let ticks = ticks(0.0, if high > 0.0 { high } else { 1.0 }, 5);
    let frame = Frame { layout, y_low: ticks[0], y_high: ticks[ticks.len() - 1] };
    open_svg(out, layout, label);
    frame.y_axis(out, &ticks, unit);
    let slot = frame.plot_width() / bars.len().max(1) as f64;
    let width = (slot * 0.72).max(1.0);
    let small = slot < 34.0;
    // Where slots are too narrow for a label, the first bar and every n-th one carry it.
    let every = if slot >= layout.min_label_slot { 1 } else { label_step(layout.min_label_slot / slot) };
    let baseline = layout.height - layout.bottom + 18.0;
    for (i, bar) in bars.iter().enumerate() {
        let x = layout.left + slot * i as f64 + (slot - width) / 2.0;
        let centre = x + width / 2.0;
        if let Some(href) = &bar.href {
            let _ = write!(out, r#"<a class="drill" href="{}">"#, escape(href));
        }
        // A gap keeps its slot as a hover target, so its tooltip can say why it is empty.
        let (class, y, height) = match bar.value {
            Some(value) => {
                let y = frame.y(value.max(0.0));
                ("bar s0".to_owned(), y, (frame.y(0.0) - y).max(0.0))
            }
            None if bar.gap.is_empty() => ("gap".to_owned(), layout.top, frame.plot_height()),
            None => (format!("gap {}", bar.gap), layout.top, frame.plot_height()),
        };
        let _ = write!(
            out,
            r#"<rect class="{class}" x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{height:.1}"><title>{}</title></rect>"#,
            escape(&bar.title),
        );
        if bar.href.is_some() {
            out.push_str("</a>");
        }
        if i == 0 || (i + 1) % every == 0 {
            let _ = write!(
                out,
                r#"<text class="tick" x="{centre:.1}" y="{baseline:.1}" text-anchor="middle">{}</text>"#,
                escape(&bar.label)
            );
        }
        if let Some(value) = bar.value.filter(|v| *v > 0.0 && slot >= layout.min_value_slot) {
            let text = if value >= 100.0 || small && value >= 10.0 {
                format!("{value:.0}")
            } else {
                format!("{value:.1}")
            };
            let class = if small { "value small" } else { "value" };
            let _ = write!(
                out,
                r#"<text class="{class}" x="{centre:.1}" y="{:.1}" text-anchor="middle">{text}</text>"#,
                y - 4.0
            );
        }
    }
    out.push_str("</svg>");
}

/// The smallest of 2, 5, 10, … that is at least `ratio`, so that labelled days read 5, 10, 15.
fn label_step(ratio: f64) -> usize {
    [2, 5, 10, 15, 20, 50].into_iter().find(|n| *n as f64 >= ratio).unwrap_or(50)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn ticks_are_round_numbers_covering_the_range() {
        assert_eq!(ticks(0.0, 9.3, 5), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(ticks(-1.2, 4.0, 5), [-2.0, 0.0, 2.0, 4.0]);
        assert_eq!(ticks(0.0, 1.0, 5), [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
    }

    #[test]
    fn a_day_chart_labels_local_hours_and_breaks_lines_at_gaps() {
        let tz: Tz = "Europe/Berlin".parse().expect("known zone");
        let start = Utc.with_ymd_and_hms(2026, 5, 31, 22, 0, 0).single().expect("valid");
        let at = |minutes: i64| start + TimeDelta::minutes(minutes);
        let series = Series {
            name: "inv-1".into(),
            points: vec![(at(600), 1500.0), (at(605), 2500.0), (at(700), 3000.0), (at(705), 3200.0)],
        };
        let both = power_chart(&[series], start..start + TimeDelta::hours(24), tz);
        let (wide, narrow) = drawings(&both);
        assert!(wide.contains(">00:00<") && wide.contains(">03:00<") && wide.contains(">21:00<"));
        assert!(wide.contains(">kW<"), "axis unit");
        assert_eq!(wide.matches(r#"class="line s0""#).count(), 2, "the 95-minute gap splits the line");
        assert!(wide.contains("<title>10:00–11:00\ninv-1: 2.00 kW (mean)</title>"), "{wide}");
        assert!(narrow.contains(">06:00<") && !narrow.contains(">03:00<"), "fewer ticks on a phone");
        assert_eq!(narrow.matches(r#"class="line s0""#).count(), 2);
    }

    /// The wide and the narrow drawing of one chart.
    fn drawings(svg: &str) -> (&str, &str) {
        let split = svg.find(r#"<svg class="chart-narrow""#).expect("a narrow drawing follows the wide one");
        assert!(svg.starts_with(r#"<svg class="chart" viewBox="0 0 960 340""#), "{svg}");
        assert!(svg[split..].starts_with(r#"<svg class="chart-narrow" viewBox="0 0 400 280""#));
        svg.split_at(split)
    }

    #[test]
    fn a_month_on_a_phone_labels_every_fifth_day_and_drops_bar_values() {
        let bars: Vec<Bar> = (1..=31)
            .map(|day| Bar {
                label: day.to_string(),
                value: Some(20.0),
                title: format!("{day} July: 20 kWh"),
                href: None,
                gap: "",
            })
            .collect();
        let both = bar_chart(&bars, "kWh", "Energy per day");
        let (wide, narrow) = drawings(&both);
        assert_eq!(
            wide.matches(r#"class="tick" x"#).count() - narrow.matches(r#"class="tick" x"#).count(),
            24
        );
        for day in [">1<", ">25<", ">30<"] {
            assert!(narrow.contains(day), "{day} labelled");
        }
        assert!(!narrow.contains(">2<") && !narrow.contains(">29<") && !narrow.contains(">31<"));
        assert!(wide.contains(r#"class="value small""#) && !narrow.contains(r#"class="value"#));
        assert_eq!(narrow.matches("<title>").count(), 31, "every bar keeps its tooltip");
    }

    #[test]
    fn bars_carry_value_labels_and_tooltips_and_escape_text() {
        let bars = vec![
            Bar {
                label: "1".into(),
                value: Some(23.46),
                title: "1 June: 23.46 kWh".into(),
                href: Some("/sites/GW/day/2026-06-01".into()),
                gap: "",
            },
            Bar { label: "<2>".into(), value: Some(0.0), title: "2 June: 0 Wh".into(), href: None, gap: "" },
            Bar { label: "3".into(), value: None, title: "3 June: Future".into(), href: None, gap: "future" },
        ];
        let svg = bar_chart(&bars, "kWh", "Energy per day");
        let (svg, _) = drawings(&svg);
        assert!(svg.contains(">23.5<"));
        assert!(svg.contains("<title>1 June: 23.46 kWh</title>"));
        assert!(svg.contains("&lt;2&gt;") && !svg.contains("<2>"));
        assert!(svg.contains(r#"<a class="drill" href="/sites/GW/day/2026-06-01"><rect class="bar s0""#));
        assert_eq!(svg.matches(r#"class="bar s0""#).count(), 2, "a measured zero is a bar, a gap is not");
        assert!(svg.contains(r#"<rect class="gap future""#) && svg.contains("<title>3 June: Future</title>"));
    }
}
