//! Every colour pair the stylesheet declares meets WCAG 2.1 AA, so a later change of colour that
//! makes text hard to read fails here rather than in front of a user.
//!
//! The pairs checked:
//! - every rule that declares both a text colour (`color`) and a solid background (`background`
//!   or `background-color`): at least 4.5:1, the ratio for normal text (badges, buttons, notices,
//!   the table header, active tabs and menu entries, …);
//! - text whose background comes from an enclosing element, listed in [`INHERITED`] with the rule
//!   giving its colour and the rule giving its background: at least 4.5:1;
//! - focus rings (`outline` in a `:focus` rule) against every background they are drawn on,
//!   listed in [`RINGS`]: at least 3:1, the ratio for user-interface boundaries.
//!
//! Ratios use the WCAG relative luminance of sRGB colours. Variables (`var(--x)`) are resolved
//! from `:root`.

use std::collections::HashMap;

const STYLESHEET: &str = include_str!("../static/app.css");

/// Normal text.
const TEXT: f64 = 4.5;
/// Focus indicators and other user-interface boundaries.
const BOUNDARY: f64 = 3.0;

/// (rule giving the text colour, property, rule giving the background): text drawn on an
/// ancestor's background.
const INHERITED: &[(&str, &str, &str)] = &[
    ("a", "color", ":root"),
    ("a", "color", ".card"),
    (".meta", "color", ":root"),
    (".hint", "color", ".box"),
    (".sub", "color", ".table-wrap"),
    (".card .label", "color", ".card"),
    (".card .note", "color", ".card"),
    ("td.empty", "color", ".table-wrap"),
    (".alert", "color", ".table-wrap"),
    ("header.top a", "color", "header.top"),
    (".logout .user", "color", "header.top"),
    ("button.link", "color", "header.top"),
    ("button.danger", "color", "button, .button"),
    ("button.primary", "color", "button.primary:hover"),
    ("form.filters label", "color", ":root"),
    ("main.login .lead", "color", "main.login"),
    ("svg:is(.chart, .chart-narrow) .tick", "fill", ".chart-box"),
    ("svg:is(.chart, .chart-narrow) .legend", "fill", ".chart-box"),
];

/// (rule drawing a focus ring, rule giving a background it is drawn on).
const RINGS: &[(&str, &str)] = &[
    ("input:focus, select:focus, button:focus, a:focus", ":root"),
    ("input:focus, select:focus, button:focus, a:focus", ".card"),
    ("input:focus, select:focus, button:focus, a:focus", "input, select"),
    ("header.top a:focus, header.top button:focus", "header.top"),
    ("header.top a:focus, header.top button:focus", "header.top nav a.active, header.top nav a:hover"),
    (".skip:focus", "header.top"),
];

/// One rule: its selector text, whether it sits inside an at-rule, and its declarations.
struct Rule {
    selector: String,
    nested: bool,
    declarations: HashMap<String, String>,
}

/// The rules of a stylesheet, comments dropped, at-rule blocks opened one level.
fn rules(css: &str) -> Vec<Rule> {
    let mut text = String::new();
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        rest = rest[start..].find("*/").map_or("", |end| &rest[start + end + 2..]);
    }
    text.push_str(rest);
    let mut out = Vec::new();
    parse_block(&text, false, &mut out);
    out
}

fn parse_block(text: &str, nested: bool, out: &mut Vec<Rule>) {
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let selector = rest[..open].trim().to_owned();
        // The matching brace, counting the braces of nested blocks.
        let mut depth = 0;
        let mut close = rest.len();
        for (i, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let body = &rest[open + 1..close];
        if selector.starts_with('@') {
            parse_block(body, true, out);
        } else {
            let declarations = body
                .split(';')
                .filter_map(|d| d.split_once(':'))
                .map(|(k, v)| (k.trim().to_owned(), v.replace("!important", "").trim().to_owned()))
                .collect();
            out.push(Rule { selector, nested, declarations });
        }
        rest = rest.get(close + 1..).unwrap_or("");
    }
}

/// An opaque sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Rgb(u8, u8, u8);

impl Rgb {
    fn hex(text: &str) -> Option<Self> {
        let digits = text.strip_prefix('#')?;
        let value = |s: &str| u8::from_str_radix(s, 16).ok();
        match digits.len() {
            3 => {
                let d: Vec<u8> = digits.chars().map(|c| value(&c.to_string())).collect::<Option<_>>()?;
                Some(Self(d[0] * 17, d[1] * 17, d[2] * 17))
            }
            6 => Some(Self(value(&digits[0..2])?, value(&digits[2..4])?, value(&digits[4..6])?)),
            _ => None,
        }
    }

    /// WCAG 2.1 relative luminance.
    fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
        };
        0.2126 * channel(self.0) + 0.7152 * channel(self.1) + 0.0722 * channel(self.2)
    }
}

/// WCAG 2.1 contrast ratio, 1 to 21.
fn ratio(a: Rgb, b: Rgb) -> f64 {
    let (x, y) = (a.luminance(), b.luminance());
    (x.max(y) + 0.05) / (x.min(y) + 0.05)
}

struct Sheet {
    rules: Vec<Rule>,
    variables: HashMap<String, String>,
}

impl Sheet {
    fn load() -> Self {
        let rules = rules(STYLESHEET);
        let variables = rules
            .iter()
            .filter(|r| r.selector == ":root")
            .flat_map(|r| r.declarations.iter())
            .filter(|(k, _)| k.starts_with("--"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Self { rules, variables }
    }

    /// A value that is one solid colour (a variable resolved), else `None` (gradients, `none`,
    /// `transparent`, translucent colours).
    fn colour(&self, value: &str) -> Option<Rgb> {
        let value = value.trim();
        if let Some(name) = value.strip_prefix("var(").and_then(|v| v.strip_suffix(')')) {
            return self.colour(self.variables.get(name.trim())?);
        }
        match value {
            "#fff" | "#ffffff" | "white" => Some(Rgb(255, 255, 255)),
            _ => Rgb::hex(value),
        }
    }

    /// The first colour among a shorthand's words (`outline: 2px solid var(--link)`).
    fn colour_in(&self, value: &str) -> Option<Rgb> {
        value.split_whitespace().find_map(|word| self.colour(word))
    }

    /// The top-level rule with exactly this selector text.
    fn rule(&self, selector: &str) -> &Rule {
        self.rules
            .iter()
            .find(|r| !r.nested && r.selector == selector)
            .unwrap_or_else(|| panic!("app.css has no top-level rule `{selector}`; update the list of pairs"))
    }

    fn declared(&self, selector: &str, property: &str) -> Rgb {
        let rule = self.rule(selector);
        rule.declarations
            .get(property)
            .and_then(|v| self.colour_in(v))
            .unwrap_or_else(|| panic!("`{selector}` declares no solid `{property}`"))
    }

    fn background(&self, selector: &str) -> Rgb {
        let rule = self.rule(selector);
        ["background-color", "background"]
            .iter()
            .find_map(|p| rule.declarations.get(*p).and_then(|v| self.colour(v)))
            .unwrap_or_else(|| panic!("`{selector}` declares no solid background"))
    }
}

#[test]
fn every_rule_with_a_text_colour_and_a_background_reads_at_aa() {
    let sheet = Sheet::load();
    let mut checked = Vec::new();
    let mut failures = Vec::new();
    for rule in &sheet.rules {
        let text = rule.declarations.get("color").and_then(|v| sheet.colour(v));
        let back = ["background-color", "background"]
            .iter()
            .find_map(|p| rule.declarations.get(*p).and_then(|v| sheet.colour(v)));
        if let (Some(text), Some(back)) = (text, back) {
            let r = ratio(text, back);
            checked.push(rule.selector.clone());
            if r < TEXT {
                failures.push(format!("{}: {r:.2}:1", rule.selector));
            }
        }
    }
    for must in [".badge.online", "button.primary", ".tabs a.active", "table.data thead th", ".skip"] {
        assert!(checked.iter().any(|s| s == must), "`{must}` was not among the pairs found: {checked:?}");
    }
    assert!(failures.is_empty(), "below {TEXT}:1 — {failures:#?}");
}

#[test]
fn text_on_an_enclosing_background_reads_at_aa() {
    let sheet = Sheet::load();
    let failures: Vec<String> = INHERITED
        .iter()
        .filter_map(|(text, property, back)| {
            let r = ratio(sheet.declared(text, property), sheet.background(back));
            (r < TEXT).then(|| format!("`{text}` on `{back}`: {r:.2}:1"))
        })
        .collect();
    assert!(failures.is_empty(), "below {TEXT}:1 — {failures:#?}");
}

#[test]
fn focus_rings_stand_out_from_every_background_they_are_drawn_on() {
    let sheet = Sheet::load();
    let failures: Vec<String> = RINGS
        .iter()
        .filter_map(|(ring, back)| {
            let r = ratio(sheet.declared(ring, "outline"), sheet.background(back));
            (r < BOUNDARY).then(|| format!("`{ring}` on `{back}`: {r:.2}:1"))
        })
        .collect();
    assert!(failures.is_empty(), "below {BOUNDARY}:1 — {failures:#?}");
}

#[test]
fn the_ratio_follows_wcag() {
    // Reference values from the WCAG definition: black on white is 21:1, and #767676 is the
    // lightest grey that reaches 4.5:1 on white.
    let white = Rgb(255, 255, 255);
    assert!((ratio(Rgb(0, 0, 0), white) - 21.0).abs() < 1e-9);
    assert!(ratio(Rgb::hex("#767676").unwrap_or(white), white) >= 4.5);
    assert!(ratio(Rgb::hex("#777777").unwrap_or(white), white) < 4.5);
    assert_eq!(Rgb::hex("#d97706"), Some(Rgb(0xd9, 0x77, 0x06)));
    // The orange the primary button had: white on it fails, as the issue reported.
    assert!(ratio(white, Rgb(0xd9, 0x77, 0x06)) < 4.5);
}
