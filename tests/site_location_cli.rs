//! A site's location from the command line: given when a gateway is added, changed or cleared
//! with `gateway locate`, listed, and refused with its reason when it is not on the earth.

mod common;

use common::process::{EmbeddedAcme, heliograph, heliograph_output};

#[test]
fn a_location_is_given_on_add_changed_listed_and_refused_off_the_earth() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let acme = EmbeddedAcme::new(dir.path(), "");
    let config = acme.config.as_path();
    heliograph(
        config,
        &[
            "gateway",
            "add",
            "--provider",
            "acme",
            "GW-2",
            "--site",
            "Barn",
            "--location",
            "-33.8688, 151.2093",
        ],
    );
    let listed = heliograph(config, &["gateway", "list", "--provider", "acme"]);
    assert!(listed.lines().any(|l| l.starts_with("GW-1\t") && l.contains("\tno location\t")), "{listed}");
    assert!(
        listed.lines().any(|l| l.starts_with("GW-2\t") && l.contains("\t-33.8688, 151.2093\t")),
        "{listed}"
    );

    let said = heliograph(config, &["gateway", "locate", "--provider", "acme", "GW-1", "48.1372 11.5755"]);
    assert!(said.contains("GW-1 is at 48.1372, 11.5755"), "{said}");
    let said = heliograph(config, &["gateway", "locate", "--provider", "acme", "GW-2", "-33.9 151.2"]);
    assert!(said.contains("GW-2 is at -33.9, 151.2"), "{said}");
    let said = heliograph(config, &["gateway", "locate", "--provider", "acme", "GW-2", ""]);
    assert!(said.contains("GW-2 has no location"), "{said}");
    let listed = heliograph(config, &["gateway", "list", "--provider", "acme"]);
    assert!(
        listed.lines().any(|l| l.starts_with("GW-1\t") && l.contains("\t48.1372, 11.5755\t")),
        "{listed}"
    );
    assert!(listed.lines().any(|l| l.starts_with("GW-2\t") && l.contains("\tno location\t")), "{listed}");

    let refused =
        heliograph_output(config, &["gateway", "locate", "--provider", "acme", "GW-1", "48, 200"], "", &[]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("longitude must be between -180 and 180 degrees"), "{stderr}");
    let listed = heliograph(config, &["gateway", "list", "--provider", "acme"]);
    assert!(listed.contains("48.1372, 11.5755"), "unchanged by the refusal: {listed}");
}
