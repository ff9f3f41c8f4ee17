//! The series one node-exporter instance exposes: metric families, their labels and value models.
//!
//! The list imitates what node_exporter 1.x reports on a small Linux host (8 CPUs, a few network
//! devices, disks and mount points) so label cardinality, label lengths and value shapes look like a
//! real remote-write stream.

use crate::model::{Precision, ValueModel};

/// One series of the per-instance template: the metric name, its family-specific labels and how
/// its value moves. Target labels (`instance`, `job`, …) are added per instance.
#[derive(Clone, Debug)]
pub struct TemplateSeries {
    /// The `__name__` label.
    pub name: String,
    /// Labels specific to this family (`cpu`, `mode`, `device`, …), in any order.
    pub labels: Vec<(&'static str, String)>,
    /// How the value evolves.
    pub model: ValueModel,
}

const CPUS: usize = 8;
const CPU_MODES: [&str; 8] = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"];
const NETWORK_DEVICES: [&str; 4] = ["eth0", "eth1", "lo", "docker0"];
const DISKS: [&str; 4] = ["nvme0n1", "nvme1n1", "sda", "sdb"];
const MOUNTS: [(&str, &str, &str); 5] = [
    ("/", "ext4", "/dev/nvme0n1p2"),
    ("/boot", "ext4", "/dev/nvme0n1p1"),
    ("/var/lib/docker", "xfs", "/dev/nvme1n1"),
    ("/run", "tmpfs", "tmpfs"),
    ("/data", "xfs", "/dev/sda1"),
];
const COLLECTORS: [&str; 24] = [
    "arp",
    "bcache",
    "bonding",
    "btrfs",
    "conntrack",
    "cpu",
    "cpufreq",
    "diskstats",
    "edac",
    "entropy",
    "filefd",
    "filesystem",
    "hwmon",
    "loadavg",
    "mdadm",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "pressure",
    "sockstat",
    "stat",
    "time",
    "vmstat",
];
const MEMINFO_GAUGES: [&str; 24] = [
    "Active",
    "Active_anon",
    "Active_file",
    "AnonHugePages",
    "AnonPages",
    "Buffers",
    "Cached",
    "Committed_AS",
    "Dirty",
    "Inactive",
    "Inactive_anon",
    "Inactive_file",
    "KReclaimable",
    "Mapped",
    "MemAvailable",
    "MemFree",
    "PageTables",
    "SReclaimable",
    "SUnreclaim",
    "Shmem",
    "Slab",
    "SwapCached",
    "SwapFree",
    "Writeback",
];
const MEMINFO_CAPACITIES: [&str; 4] = ["MemTotal", "SwapTotal", "CommitLimit", "VmallocTotal"];
const NETSTAT_COUNTERS: [&str; 16] = [
    "Icmp_InErrors",
    "Icmp_InMsgs",
    "Icmp_OutMsgs",
    "Ip_Forwarding",
    "IpExt_InOctets",
    "IpExt_OutOctets",
    "TcpExt_ListenDrops",
    "TcpExt_ListenOverflows",
    "TcpExt_SyncookiesFailed",
    "TcpExt_TCPTimeouts",
    "Tcp_ActiveOpens",
    "Tcp_InErrs",
    "Tcp_InSegs",
    "Tcp_OutSegs",
    "Tcp_PassiveOpens",
    "Tcp_RetransSegs",
];
const VMSTAT_COUNTERS: [&str; 8] =
    ["oom_kill", "pgfault", "pgmajfault", "pgpgin", "pgpgout", "pswpin", "pswpout", "numa_hit"];

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

fn counter(mean_increase: f64, idle_probability: f64, precision: Precision) -> ValueModel {
    ValueModel::Counter { mean_increase, idle_probability, precision }
}

fn gauge(min: f64, max: f64, max_step: f64, precision: Precision) -> ValueModel {
    ValueModel::Gauge { min, max, max_step, precision }
}

fn series(name: &str, labels: Vec<(&'static str, String)>, model: ValueModel) -> TemplateSeries {
    TemplateSeries { name: name.to_owned(), labels, model }
}

/// Builds the series list of one instance; every instance exposes the same list.
pub fn node_exporter_template() -> Vec<TemplateSeries> {
    let mut template = Vec::new();
    add_cpu_series(&mut template);
    add_memory_series(&mut template);
    add_network_series(&mut template);
    add_disk_series(&mut template);
    add_filesystem_series(&mut template);
    add_system_series(&mut template);
    add_exporter_series(&mut template);
    template
}

fn add_cpu_series(template: &mut Vec<TemplateSeries>) {
    for cpu in 0..CPUS {
        for mode in CPU_MODES {
            let mean = match mode {
                "idle" => 11.0,
                "user" | "system" => 2.5,
                "iowait" | "softirq" => 0.2,
                _ => 0.02,
            };
            let idle = if mean < 0.1 { 0.7 } else { 0.0 };
            let labels = vec![("cpu", cpu.to_string()), ("mode", mode.to_owned())];
            template.push(series(
                "node_cpu_seconds_total",
                labels,
                counter(mean, idle, Precision::Decimals(2)),
            ));
        }
        for mode in ["nice", "user"] {
            let labels = vec![("cpu", cpu.to_string()), ("mode", mode.to_owned())];
            template.push(series("node_cpu_guest_seconds_total", labels, ValueModel::Constant(0.0)));
        }
        let labels = vec![("cpu", cpu.to_string())];
        let frequency = gauge(1.2e9, 3.6e9, 4e8, Precision::Multiple(1e6));
        template.push(series("node_cpu_scaling_frequency_hertz", labels, frequency));
    }
}

fn add_memory_series(template: &mut Vec<TemplateSeries>) {
    for field in MEMINFO_GAUGES {
        let name = format!("node_memory_{field}_bytes");
        let model = gauge(0.0, 8.0 * GIB, 64.0 * 1024.0 * 1024.0, Precision::Multiple(4096.0));
        template.push(series(&name, Vec::new(), model));
    }
    for field in MEMINFO_CAPACITIES {
        let name = format!("node_memory_{field}_bytes");
        template.push(series(&name, Vec::new(), ValueModel::Capacity { base: 16.0 * GIB }));
    }
}

fn add_network_series(template: &mut Vec<TemplateSeries>) {
    for device in NETWORK_DEVICES {
        for direction in ["receive", "transmit"] {
            let families = [
                ("bytes", counter(1.5e6, 0.0, Precision::Decimals(0))),
                ("packets", counter(1_200.0, 0.0, Precision::Decimals(0))),
                ("errs", counter(1.0, 0.98, Precision::Decimals(0))),
                ("drop", counter(2.0, 0.95, Precision::Decimals(0))),
            ];
            for (what, model) in families {
                let name = format!("node_network_{direction}_{what}_total");
                template.push(series(&name, vec![("device", device.to_owned())], model));
            }
        }
        let labels = vec![("device", device.to_owned())];
        template.push(series("node_network_up", labels.clone(), ValueModel::Constant(1.0)));
        template.push(series("node_network_mtu_bytes", labels, ValueModel::Constant(1500.0)));
    }
}

fn add_disk_series(template: &mut Vec<TemplateSeries>) {
    for device in DISKS {
        let families = [
            ("node_disk_read_bytes_total", counter(4.0e5, 0.3, Precision::Multiple(512.0))),
            ("node_disk_written_bytes_total", counter(9.0e5, 0.1, Precision::Multiple(512.0))),
            ("node_disk_reads_completed_total", counter(40.0, 0.3, Precision::Decimals(0))),
            ("node_disk_writes_completed_total", counter(90.0, 0.1, Precision::Decimals(0))),
            ("node_disk_io_time_seconds_total", counter(0.8, 0.1, Precision::Decimals(3))),
            ("node_disk_read_time_seconds_total", counter(0.2, 0.3, Precision::Decimals(3))),
            ("node_disk_write_time_seconds_total", counter(0.6, 0.1, Precision::Decimals(3))),
        ];
        for (name, model) in families {
            template.push(series(name, vec![("device", device.to_owned())], model));
        }
        let in_progress = gauge(0.0, 8.0, 2.0, Precision::Decimals(0));
        template.push(series("node_disk_io_now", vec![("device", device.to_owned())], in_progress));
    }
}

fn add_filesystem_series(template: &mut Vec<TemplateSeries>) {
    for (mountpoint, fstype, device) in MOUNTS {
        let labels = vec![
            ("mountpoint", mountpoint.to_owned()),
            ("fstype", fstype.to_owned()),
            ("device", device.to_owned()),
        ];
        let free = gauge(10.0 * GIB, 90.0 * GIB, 50.0 * 1024.0 * 1024.0, Precision::Multiple(4096.0));
        let families = [
            ("node_filesystem_size_bytes", ValueModel::Capacity { base: 100.0 * GIB }),
            ("node_filesystem_avail_bytes", free),
            ("node_filesystem_free_bytes", free),
            ("node_filesystem_files", ValueModel::Capacity { base: 6_553_600.0 }),
            ("node_filesystem_files_free", gauge(1e6, 6e6, 200.0, Precision::Decimals(0))),
            ("node_filesystem_readonly", ValueModel::Constant(0.0)),
            ("node_filesystem_device_error", ValueModel::Constant(0.0)),
        ];
        for (name, model) in families {
            template.push(series(name, labels.clone(), model));
        }
    }
}

fn add_system_series(template: &mut Vec<TemplateSeries>) {
    let load = |max_step| gauge(0.0, 16.0, max_step, Precision::Decimals(2));
    let families = [
        ("node_load1", load(0.6)),
        ("node_load5", load(0.2)),
        ("node_load15", load(0.08)),
        ("node_context_switches_total", counter(45_000.0, 0.0, Precision::Decimals(0))),
        ("node_intr_total", counter(30_000.0, 0.0, Precision::Decimals(0))),
        ("node_forks_total", counter(120.0, 0.0, Precision::Decimals(0))),
        ("node_boot_time_seconds", ValueModel::Constant(1_700_000_000.0)),
        ("node_time_seconds", ValueModel::Clock),
        ("node_procs_running", gauge(1.0, 12.0, 3.0, Precision::Decimals(0))),
        ("node_procs_blocked", gauge(0.0, 4.0, 1.0, Precision::Decimals(0))),
        ("node_entropy_available_bits", gauge(3_000.0, 3_900.0, 40.0, Precision::Decimals(0))),
        ("node_filefd_allocated", gauge(2_000.0, 20_000.0, 150.0, Precision::Decimals(0))),
        ("node_filefd_maximum", ValueModel::Constant(9.223372036854776e18)),
        ("node_sockstat_sockets_used", gauge(200.0, 2_000.0, 30.0, Precision::Decimals(0))),
        ("node_sockstat_TCP_inuse", gauge(20.0, 900.0, 20.0, Precision::Decimals(0))),
        ("node_sockstat_TCP_tw", gauge(0.0, 400.0, 25.0, Precision::Decimals(0))),
    ];
    for (name, model) in families {
        template.push(series(name, Vec::new(), model));
    }
    for field in NETSTAT_COUNTERS {
        let name = format!("node_netstat_{field}");
        template.push(series(&name, Vec::new(), counter(300.0, 0.2, Precision::Decimals(0))));
    }
    for field in VMSTAT_COUNTERS {
        let name = format!("node_vmstat_{field}");
        template.push(series(&name, Vec::new(), counter(5_000.0, 0.3, Precision::Decimals(0))));
    }
    for resource in ["cpu", "io", "memory"] {
        let name = format!("node_pressure_{resource}_waiting_seconds_total");
        template.push(series(&name, Vec::new(), counter(0.05, 0.5, Precision::Decimals(6))));
    }
}

fn add_exporter_series(template: &mut Vec<TemplateSeries>) {
    for collector in COLLECTORS {
        let labels = vec![("collector", collector.to_owned())];
        let duration = gauge(0.0001, 0.05, 0.002, Precision::Decimals(6));
        template.push(series("node_scrape_collector_duration_seconds", labels.clone(), duration));
        template.push(series("node_scrape_collector_success", labels, ValueModel::Constant(1.0)));
    }
    let families = [
        ("up", ValueModel::Constant(1.0)),
        ("scrape_duration_seconds", gauge(0.01, 0.2, 0.02, Precision::Decimals(6))),
        ("scrape_samples_scraped", ValueModel::Constant(412.0)),
        ("scrape_samples_post_metric_relabeling", ValueModel::Constant(412.0)),
        ("scrape_series_added", ValueModel::Constant(0.0)),
        ("process_cpu_seconds_total", counter(0.03, 0.2, Precision::Decimals(2))),
        ("process_resident_memory_bytes", gauge(1.5e7, 3.0e7, 2.0e5, Precision::Multiple(4096.0))),
        ("go_goroutines", gauge(6.0, 12.0, 1.0, Precision::Decimals(0))),
    ];
    for (name, model) in families {
        template.push(series(name, Vec::new(), model));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_template_series_is_distinct() {
        let template = node_exporter_template();
        let mut seen = HashSet::new();
        for entry in &template {
            let mut labels = entry.labels.clone();
            labels.sort();
            assert!(seen.insert((entry.name.clone(), labels)), "duplicate series {}", entry.name);
        }
        assert!(template.len() > 300, "a node exporter exposes hundreds of series, got {}", template.len());
    }
}
