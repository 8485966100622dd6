//! One simulated gateway on one TCP connection: hello, then batches of readings with sequence
//! numbers, a few documents in flight, every answer read and counted.

use std::net::SocketAddr;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use quick_xml::events::Event;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::sync::CancellationToken;

use crate::provision::{Condition, SimulatedGateway};
use crate::simulate::Plan;
use crate::solar::Sample;

/// Documents sent before waiting for answers.
const WINDOW: usize = 4;

/// What a run achieved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Totals {
    /// Documents sent.
    pub documents: u64,
    /// Documents acknowledged.
    pub acked: u64,
    /// Readings the server accepted.
    pub accepted: u64,
    /// Readings the server quarantined.
    pub rejected: u64,
    /// Documents refused (nacks).
    pub refused: u64,
}

impl Totals {
    /// Adds another run's totals.
    pub fn add(&mut self, other: &Totals) {
        self.documents += other.documents;
        self.acked += other.acked;
        self.accepted += other.accepted;
        self.rejected += other.rejected;
        self.refused += other.refused;
    }
}

/// A connected simulated gateway.
pub struct GatewayClient {
    gateway: SimulatedGateway,
    plan: Plan,
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    seq: u64,
    in_flight: usize,
    totals: Totals,
    line: String,
}

impl GatewayClient {
    /// Connects and says hello.
    pub async fn connect(
        target: SocketAddr,
        mut gateway: SimulatedGateway,
        plan: Plan,
    ) -> anyhow::Result<Self> {
        gateway.plant.latitude = plan.latitude;
        gateway.plant.longitude = plan.longitude;
        let stream =
            TcpStream::connect(target).await.with_context(|| format!("cannot connect to {target}"))?;
        stream.set_nodelay(true)?;
        let (read, writer) = stream.into_split();
        let mut client = Self {
            gateway,
            plan,
            reader: BufReader::new(read),
            writer,
            seq: 0,
            in_flight: 0,
            totals: Totals::default(),
            line: String::new(),
        };
        let hello =
            format!("<hello gateway=\"{}\" token=\"{}\"/>\n", client.gateway.id, client.gateway.token);
        client.writer.write_all(hello.as_bytes()).await?;
        client.read_answer().await?;
        anyhow::ensure!(client.totals.refused == 0, "gateway {} was refused at hello", client.gateway.id);
        Ok(client)
    }

    /// Sends the backfill, then live readings, until done or shut down.
    pub async fn run(mut self, shutdown: CancellationToken) -> anyhow::Result<Totals> {
        let mut pending = String::new();
        let mut count = 0;
        if let Some(mut ts) = self.plan.history_from {
            let now = Utc::now();
            let mut unsent = String::new();
            while ts <= now && !shutdown.is_cancelled() && !self.gateway.silent_at(ts) {
                if self.gateway.stored_until.is_some_and(|until| ts <= until) {
                    // Simulated all the same, so that the counters run on from what is stored.
                    unsent.clear();
                    self.gateway.readings_at(ts, &mut unsent);
                    ts += self.plan.step;
                    continue;
                }
                count += self.gateway.readings_at(ts, &mut pending);
                if count >= self.plan.batch {
                    self.send(&pending).await?;
                    pending.clear();
                    count = 0;
                }
                ts += self.plan.step;
            }
            if count > 0 {
                self.send(&pending).await?;
                pending.clear();
                count = 0;
            }
        }
        if self.plan.live {
            let started = tokio::time::Instant::now();
            let step = self.plan.step.to_std().unwrap_or(std::time::Duration::from_secs(60));
            let mut ticks = tokio::time::interval(step);
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    _ = ticks.tick() => {}
                }
                if self.plan.live_for.is_some_and(|limit| started.elapsed() >= limit) {
                    break;
                }
                let now = Utc::now();
                if self.gateway.silent_at(now) {
                    break;
                }
                count += self.gateway.readings_at(now, &mut pending);
                if count >= self.plan.batch.min(8) {
                    self.send(&pending).await?;
                    pending.clear();
                    count = 0;
                }
            }
        }
        if count > 0 {
            self.send(&pending).await?;
        }
        while self.in_flight > 0 {
            self.read_answer().await?;
        }
        Ok(self.totals)
    }

    async fn send(&mut self, readings: &str) -> anyhow::Result<()> {
        self.seq += 1;
        let document = format!("<batch seq=\"{}\">{readings}</batch>\n", self.seq);
        self.writer.write_all(document.as_bytes()).await?;
        self.totals.documents += 1;
        self.in_flight += 1;
        while self.in_flight >= WINDOW {
            self.read_answer().await?;
        }
        Ok(())
    }

    async fn read_answer(&mut self) -> anyhow::Result<()> {
        self.line.clear();
        let n = self.reader.read_line(&mut self.line).await?;
        anyhow::ensure!(n > 0, "server closed the connection of {}", self.gateway.id);
        let answer = parse_answer(&self.line)?;
        match answer {
            Answer::Welcome => return Ok(()),
            Answer::Ack { accepted, rejected } => {
                self.totals.acked += 1;
                self.totals.accepted += accepted;
                self.totals.rejected += rejected;
            }
            Answer::Nack(reason) => {
                tracing::warn!(gateway = %self.gateway.id, %reason, "document refused");
                self.totals.refused += 1;
            }
        }
        self.in_flight = self.in_flight.saturating_sub(1);
        Ok(())
    }
}

impl SimulatedGateway {
    /// Whether the gateway says nothing at `ts` (it is offline from some time on).
    pub(crate) fn silent_at(&self, ts: DateTime<Utc>) -> bool {
        matches!(self.condition, Condition::Offline { since } if ts > since)
    }

    /// Appends this gateway's readings at `ts` to `out`; returns how many.
    pub(crate) fn readings_at(&mut self, ts: DateTime<Utc>, out: &mut String) -> usize {
        let faulted = matches!(self.condition, Condition::Fault { since } if ts >= since);
        self.plant.derate = match self.condition {
            _ if faulted => 0.0,
            Condition::Underperforming { share } => share.clamp(0.0, 1.0),
            _ => 1.0,
        };
        let sample = self.plant.sample(ts);
        let stamp = ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        inverter(out, &stamp, &sample, faulted);
        let mut count = 1;
        if self.has_meter {
            let consumption = self.consumption(ts);
            let grid = consumption - sample.ac_power;
            self.meter.advance(ts, grid);
            out.push_str(&format!(
                "<reading device=\"meter-1\" kind=\"meter\" ts=\"{stamp}\"><ac_power unit=\"W\">{grid:.1}</ac_power>\
                 <import_energy unit=\"kWh\">{:.3}</import_energy><export_energy unit=\"kWh\">{:.3}</export_energy></reading>",
                self.meter.import_wh / 1000.0,
                self.meter.export_wh / 1000.0
            ));
            count += 1;
        }
        if self.has_sensor {
            out.push_str(&format!(
                "<reading device=\"irr-1\" kind=\"irradiance_sensor\" ts=\"{stamp}\"><irradiance unit=\"W/m2\">{:.1}</irradiance>\
                 <temperature unit=\"C\">{:.1}</temperature></reading>",
                sample.irradiance,
                sample.temperature - 8.0
            ));
            count += 1;
        }
        count
    }
}

fn inverter(out: &mut String, stamp: &str, s: &Sample, faulted: bool) {
    let status = match () {
        () if faulted => "fault",
        () if s.ac_power > 0.0 => "producing",
        () => "standby",
    };
    out.push_str(&format!(
        "<reading device=\"inv-1\" kind=\"inverter\" ts=\"{stamp}\">\
         <ac_power unit=\"W\">{}</ac_power><dc_power unit=\"W\">{}</dc_power>\
         <energy unit=\"kWh\">{:.3}</energy><ac_voltage unit=\"V\">{}</ac_voltage>\
         <ac_current unit=\"A\">{}</ac_current><dc_voltage unit=\"V\">{}</dc_voltage>\
         <dc_current unit=\"A\">{}</dc_current><frequency unit=\"Hz\">{}</frequency>\
         <temperature unit=\"C\">{}</temperature><status>{status}</status></reading>",
        s.ac_power,
        s.dc_power,
        s.energy / 1000.0,
        s.ac_voltage,
        s.ac_current,
        s.dc_voltage,
        s.dc_current,
        s.frequency,
        s.temperature
    ));
}

enum Answer {
    Welcome,
    Ack { accepted: u64, rejected: u64 },
    Nack(String),
}

fn parse_answer(line: &str) -> anyhow::Result<Answer> {
    let mut reader = quick_xml::Reader::from_str(line.trim());
    loop {
        match reader.read_event()? {
            Event::Start(e) | Event::Empty(e) => {
                let attr = |name: &str| -> anyhow::Result<Option<String>> {
                    Ok(e.try_get_attribute(name)?
                        .map(|a| a.unescape_value())
                        .transpose()?
                        .map(|v| v.into_owned()))
                };
                return match e.local_name().as_ref() {
                    b"welcome" => Ok(Answer::Welcome),
                    b"ack" => Ok(Answer::Ack {
                        accepted: attr("accepted")?.and_then(|v| v.parse().ok()).unwrap_or(0),
                        rejected: attr("rejected")?.and_then(|v| v.parse().ok()).unwrap_or(0),
                    }),
                    b"nack" => Ok(Answer::Nack(format!(
                        "{}: {}",
                        attr("code")?.unwrap_or_default(),
                        attr("reason")?.unwrap_or_default()
                    ))),
                    other => {
                        anyhow::bail!("unexpected answer <{}>", String::from_utf8_lossy(other))
                    }
                };
            }
            Event::Eof => anyhow::bail!("empty answer line"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use chrono::{Duration, TimeZone};

    use super::*;

    fn gateway(condition: Condition) -> SimulatedGateway {
        let mut gateway =
            SimulatedGateway::new(heliograph_shared::GatewayId::parse("GW-1").unwrap(), "t".into(), 1, 5);
        gateway.condition = condition;
        gateway
    }

    /// Runs a June day in Munich minute by minute; returns the energy made and the documents.
    fn day(gateway: &mut SimulatedGateway) -> (f64, String) {
        let start = Utc.with_ymd_and_hms(2026, 6, 21, 0, 0, 0).unwrap();
        let mut text = String::new();
        let before = gateway.plant.energy_wh;
        for minute in 0..24 * 60 {
            gateway.readings_at(start + Duration::minutes(minute), &mut text);
        }
        (gateway.plant.energy_wh - before, text)
    }

    #[test]
    fn an_underperforming_plant_makes_its_share_of_a_healthy_ones_energy() {
        let (healthy, _) = day(&mut gateway(Condition::Healthy));
        let (poor, _) = day(&mut gateway(Condition::Underperforming { share: 0.5 }));
        assert!(healthy > 10_000.0, "a June day makes {healthy} Wh");
        assert!((poor / healthy - 0.5).abs() < 0.01, "{poor} against {healthy} Wh");
    }

    #[test]
    fn a_faulty_inverter_says_so_and_makes_nothing_from_the_fault_on() {
        let since = Utc.with_ymd_and_hms(2026, 6, 21, 12, 0, 0).unwrap();
        let mut faulty = gateway(Condition::Fault { since });
        let (energy, text) = day(&mut faulty);
        let (healthy, _) = day(&mut gateway(Condition::Healthy));
        assert!(energy > 0.0 && energy < 0.8 * healthy, "{energy} of {healthy} Wh: the morning only");
        let afternoon = &text[text.find("2026-06-21T12:00:00Z").unwrap()..];
        assert!(afternoon.contains("<status>fault</status>") && !afternoon.contains("producing"));
        assert!(text[..text.find("2026-06-21T12:00:00Z").unwrap()].contains("<status>producing</status>"));
    }

    #[test]
    fn an_offline_gateway_is_silent_only_after_it_went_quiet() {
        let since = Utc.with_ymd_and_hms(2026, 6, 21, 12, 0, 0).unwrap();
        let offline = gateway(Condition::Offline { since });
        assert!(!offline.silent_at(since));
        assert!(offline.silent_at(since + Duration::minutes(1)));
        assert!(!gateway(Condition::Healthy).silent_at(since + Duration::days(1)));
    }
}
