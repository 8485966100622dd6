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

use crate::provision::SimulatedGateway;
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
            while ts <= now && !shutdown.is_cancelled() {
                count += self.readings_at(ts, &mut pending);
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
                count += self.readings_at(now, &mut pending);
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

    /// Appends this gateway's readings at `ts` to `out`; returns how many.
    fn readings_at(&mut self, ts: DateTime<Utc>, out: &mut String) -> usize {
        let sample = self.gateway.plant.sample(ts);
        let stamp = ts.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        inverter(out, &stamp, &sample);
        let mut count = 1;
        if self.gateway.has_meter {
            let consumption = self.gateway.consumption(ts);
            let grid = consumption - sample.ac_power;
            self.gateway.meter.advance(ts, grid);
            out.push_str(&format!(
                "<reading device=\"meter-1\" kind=\"meter\" ts=\"{stamp}\"><ac_power unit=\"W\">{grid:.1}</ac_power>\
                 <import_energy unit=\"kWh\">{:.3}</import_energy><export_energy unit=\"kWh\">{:.3}</export_energy></reading>",
                self.gateway.meter.import_wh / 1000.0,
                self.gateway.meter.export_wh / 1000.0
            ));
            count += 1;
        }
        if self.gateway.has_sensor {
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

fn inverter(out: &mut String, stamp: &str, s: &Sample) {
    let status = if s.ac_power > 0.0 { "producing" } else { "standby" };
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
