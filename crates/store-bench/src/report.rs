//! The markdown report: storage figures per sample and per million samples, and query latency
//! medians per selector, source and API, beside VictoriaMetrics.

use std::fmt::Write as _;

use crate::disk::DirSize;
use crate::neocortex::FlushMetrics;
use crate::victoria::VictoriaSizes;

/// Median of `values` (0 when empty).
pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(0.0)
}

/// A latency cell: milliseconds, one decimal.
pub(crate) fn ms(value: f64) -> String {
    format!("{value:.1}")
}

/// A ratio cell `numerator / denominator`, two decimals (a dash when undefined).
pub(crate) fn ratio(numerator: f64, denominator: f64) -> String {
    if denominator > 0.0 {
        format!("{:.2}x", numerator / denominator)
    } else {
        "—".to_owned()
    }
}

/// Everything measured about what the flush left in the store.
pub(crate) struct StoreFigures {
    /// From `/metrics` after the flush.
    pub(crate) metrics: FlushMetrics,
    /// `data/chunks`.
    pub(crate) chunks: DirSize,
    /// `data/index` (the redb file).
    pub(crate) index: DirSize,
}

fn per(bytes: u64, samples: f64) -> String {
    format!("{:.3}", bytes as f64 / samples)
}

/// The bytes table (Neocortex beside VictoriaMetrics) and the per-million figures.
pub(crate) fn storage_table(samples: f64, store: &StoreFigures, victoria: Option<&VictoriaSizes>) -> String {
    let mut out = String::new();
    let vm = |pick: fn(&VictoriaSizes) -> DirSize| {
        victoria.map_or("—".to_owned(), |v| {
            let size = pick(v);
            format!("{} ({} allocated)", per(size.apparent, samples), per(size.allocated, samples))
        })
    };
    let vm_total = victoria.map_or("—".to_owned(), |v| {
        format!(
            "{} ({} allocated)",
            per(v.data.apparent + v.index.apparent, samples),
            per(v.data.allocated + v.index.allocated, samples)
        )
    });
    let _ = writeln!(out, "Bytes per sample on disk ({samples} samples):\n");
    let _ = writeln!(out, "| figure | Neocortex (files) | VictoriaMetrics (after force_merge) |");
    let _ = writeln!(out, "|---|---:|---:|");
    let _ = writeln!(
        out,
        "| samples: chunk objects (`data/chunks`) / `data/` | {} ({} allocated) | {} |",
        per(store.chunks.apparent, samples),
        per(store.chunks.allocated, samples),
        vm(|v| v.data)
    );
    let _ = writeln!(
        out,
        "| index: redb file (`data/index`) / `indexdb/` | {} ({} allocated) | {} |",
        per(store.index.apparent, samples),
        per(store.index.allocated, samples),
        vm(|v| v.index)
    );
    let _ = writeln!(
        out,
        "| total | {} ({} allocated) | {vm_total} |",
        per(store.chunks.apparent + store.index.apparent, samples),
        per(store.chunks.allocated + store.index.allocated, samples),
    );
    let million = samples / 1e6;
    let m = &store.metrics;
    let _ = writeln!(out, "\n| figure | Neocortex |\n|---|---:|");
    let _ = writeln!(
        out,
        "| chunk objects (files in `data/chunks`) | {} ({:.1} per million samples) |",
        store.chunks.files,
        store.chunks.files as f64 / million
    );
    let _ = writeln!(
        out,
        "| objects written (`cortex_chunk_store_index_entries_per_chunk_count`) | {} |",
        m.objects
    );
    let _ = writeln!(
        out,
        "| index rows written (`cortex_chunk_store_index_entries_per_chunk_sum`) | {:.0} ({:.1} per million samples) |",
        m.index_rows,
        m.index_rows / million
    );
    let _ = writeln!(
        out,
        "| ingester chunks flushed (`cortex_ingester_chunks_stored_total`) | {} ({} bytes/sample as XOR chunks) |",
        m.chunks,
        per(m.chunk_bytes as u64, samples)
    );
    if let Some(v) = victoria {
        let _ = writeln!(out, "| VictoriaMetrics `vm_rows` (storage parts) | {} |", v.rows);
    }
    out
}

/// One row of the query table: a selector's answer and the medians per column.
pub(crate) struct QueryRow {
    /// The selector.
    pub(crate) selector: String,
    /// Series in every answer.
    pub(crate) series: usize,
    /// Samples in every answer.
    pub(crate) samples: usize,
    /// Cells in column order, formatted.
    pub(crate) cells: Vec<String>,
}

/// A table of query medians with `columns` headers.
pub(crate) fn query_table(title: &str, columns: &[String], rows: &[QueryRow]) -> String {
    let mut out = format!("{title}\n\n| query | series | samples |");
    for column in columns {
        let _ = write!(out, " {column} |");
    }
    out.push_str("\n|---|---:|---:|");
    out.push_str(&"---:|".repeat(columns.len()));
    out.push('\n');
    for row in rows {
        let _ = write!(out, "| `{}` | {} | {} |", row.selector, row.series, row.samples);
        for cell in &row.cells {
            let _ = write!(out, " {cell} |");
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_tables() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[]), 0.0);
        let table = query_table(
            "t",
            &["a".to_owned(), "b".to_owned()],
            &[QueryRow {
                selector: "up".into(),
                series: 1,
                samples: 2,
                cells: vec![ms(1.25), ratio(2.0, 4.0)],
            }],
        );
        assert!(table.contains("| query | series | samples | a | b |"), "{table}");
        assert!(table.contains("|---|---:|---:|---:|---:|"), "{table}");
        assert!(table.contains("| `up` | 1 | 2 | 1.2 | 0.50x |"), "{table}");
        assert_eq!(ratio(1.0, 0.0), "—");
    }
}
