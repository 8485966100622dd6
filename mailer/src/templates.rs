//! The askama templates (in `mailer/templates/`): one layout for every email's frame, an HTML
//! and a plain-text body for each kind of email. Checked at compile time.

use askama::Template;

use crate::presentation::{AlertView, Page, SummaryView};

/// A rendered email body in both forms.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The subject line.
    pub subject: String,
    /// The HTML alternative.
    pub html: String,
    /// The plain-text alternative.
    pub text: String,
}

/// A template failed to render (a bug in a template, not in the input).
#[derive(Debug, thiserror::Error)]
#[error("an email template failed to render: {0}")]
pub struct RenderError(#[from] askama::Error);

#[derive(Template)]
#[template(path = "summary.html")]
struct SummaryHtml<'a> {
    page: &'a Page,
    view: &'a SummaryView,
}

#[derive(Template)]
#[template(path = "summary.txt", escape = "none")]
struct SummaryText<'a> {
    view: &'a SummaryView,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsHtml<'a> {
    page: &'a Page,
    view: &'a AlertView,
}

#[derive(Template)]
#[template(path = "alerts.txt", escape = "none")]
struct AlertsText<'a> {
    view: &'a AlertView,
}

/// Renders a summary.
pub fn summary(view: &SummaryView) -> Result<Rendered, RenderError> {
    Ok(Rendered {
        subject: view.subject.clone(),
        html: SummaryHtml { page: &view.page, view }.render()?,
        text: SummaryText { view }.render()?,
    })
}

/// Renders an alert notice.
pub fn alerts(view: &AlertView) -> Result<Rendered, RenderError> {
    Ok(Rendered {
        subject: view.subject.clone(),
        html: AlertsHtml { page: &view.page, view }.render()?,
        text: AlertsText { view }.render()?,
    })
}
