//! Turns a rendered email into a MIME message: the provider's brand as sender name, every
//! address of the customer, `multipart/alternative` (plain text first, HTML preferred),
//! one-click unsubscribe headers (RFC 2369 and RFC 8058) and a stable `Message-ID`, so a resend
//! of the same summary is recognisable as the same message.

use lettre::Message;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};

use heliograph_shared::{DeliveryKey, EmailAddress};

use crate::templates::Rendered;

/// Why a message cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The configured sender address is not an address.
    #[error("the sender address {0:?} is not valid; set [mailer] from_address")]
    From(String),
    /// A customer address is refused by the MIME builder.
    #[error("recipient {0:?} is not a valid address")]
    Recipient(String),
    /// The customer has no address.
    #[error("the customer has no email address")]
    NoRecipient,
    /// lettre could not assemble the message.
    #[error("cannot assemble the message: {0}")]
    Build(#[from] lettre::error::Error),
}

/// Who sends to whom, and about what.
pub struct Addressing<'a> {
    /// The sender address from the settings.
    pub from_address: &'a str,
    /// The provider's brand, shown as the sender's name.
    pub brand: &'a str,
    /// The customer's addresses.
    pub to: &'a [EmailAddress],
    /// The delivery this message is.
    pub key: &'a DeliveryKey,
    /// The unsubscribe link.
    pub unsubscribe_url: &'a str,
}

/// The stable `Message-ID` of a delivery: `<topic.customer@sender-domain>`.
pub fn message_id(key: &DeliveryKey, from_address: &str) -> String {
    let domain = from_address.rsplit_once('@').map_or("heliograph.invalid", |(_, d)| d);
    let topic: String = key
        .topic()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-') { c } else { '.' })
        .collect();
    format!("<{topic}.{}@{domain}>", key.customer)
}

/// Builds the message.
pub fn message(rendered: &Rendered, addressing: &Addressing<'_>) -> Result<Message, ComposeError> {
    let from_address = addressing
        .from_address
        .parse()
        .map_err(|_| ComposeError::From(addressing.from_address.to_owned()))?;
    let mut builder = Message::builder()
        .from(Mailbox::new(Some(addressing.brand.to_owned()), from_address))
        .subject(rendered.subject.clone())
        .date_now()
        .message_id(Some(message_id(addressing.key, addressing.from_address)))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe"),
            format!("<{}>", addressing.unsubscribe_url),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("List-Unsubscribe-Post"),
            "List-Unsubscribe=One-Click".to_owned(),
        ))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".to_owned(),
        ));
    if addressing.to.is_empty() {
        return Err(ComposeError::NoRecipient);
    }
    for address in addressing.to {
        let mailbox =
            address.as_str().parse().map_err(|_| ComposeError::Recipient(address.as_str().to_owned()))?;
        builder = builder.to(Mailbox::new(None, mailbox));
    }
    Ok(builder.multipart(MultiPart::alternative_plain_html(rendered.text.clone(), rendered.html.clone()))?)
}
