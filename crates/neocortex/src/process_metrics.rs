//! `process_*` metrics read from /proc at scrape time (resident memory, CPU, open fds, start
//! time), so dashboards and benchmarks see the same figures for Neocortex as for any exporter.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

#[derive(Debug)]
struct ProcessCollector {
    start_time_seconds: f64,
}

/// Registers the process collector.
pub fn register(registry: &mut Registry) {
    let start_time_seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    registry.register_collector(Box::new(ProcessCollector { start_time_seconds }));
}

/// Page size and clock ticks are 4096 and 100 on every Linux we run on.
const PAGE_SIZE: f64 = 4096.0;
const CLOCK_TICKS: f64 = 100.0;

fn read_stat() -> Option<(f64, f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields after the command name start at field 3 (state); utime is 14, stime 15, vsize 23, rss 24.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let vsize: f64 = fields.get(20)?.parse().ok()?;
    let rss_pages: f64 = fields.get(21)?.parse().ok()?;
    Some(((utime + stime) / CLOCK_TICKS, vsize, rss_pages * PAGE_SIZE))
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        if let Some((cpu_seconds, virtual_bytes, resident_bytes)) = read_stat() {
            let cpu = ConstCounter::new(cpu_seconds);
            cpu.encode(encoder.encode_descriptor(
                "process_cpu",
                "Total user and system CPU time spent in seconds",
                Some(&Unit::Seconds),
                cpu.metric_type(),
            )?)?;
            let resident = ConstGauge::new(resident_bytes);
            resident.encode(encoder.encode_descriptor(
                "process_resident_memory",
                "Resident memory size in bytes",
                Some(&Unit::Bytes),
                resident.metric_type(),
            )?)?;
            let virtual_memory = ConstGauge::new(virtual_bytes);
            virtual_memory.encode(encoder.encode_descriptor(
                "process_virtual_memory",
                "Virtual memory size in bytes",
                Some(&Unit::Bytes),
                virtual_memory.metric_type(),
            )?)?;
        }
        if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
            let open = ConstGauge::new(entries.count() as i64);
            open.encode(encoder.encode_descriptor(
                "process_open_fds",
                "Number of open file descriptors",
                None,
                open.metric_type(),
            )?)?;
        }
        let start = ConstGauge::new(self.start_time_seconds);
        start.encode(encoder.encode_descriptor(
            "process_start_time",
            "Start time of the process since unix epoch in seconds",
            Some(&Unit::Seconds),
            start.metric_type(),
        )?)?;
        Ok(())
    }
}
