//! Aggregation operators with `by`/`without`. Grouping keys are computed once per input series;
//! each step then only folds values into per-group accumulators.

use std::collections::HashMap;

use neocortex_core::labels::is_valid_label_name;
use neocortex_core::{Labels, METRIC_NAME};

use super::{Evaluator, MatrixBuilder, StepCursors, StepSeries, Steps, Val};
use crate::ast::{AggregateOp, Expr};
use crate::error::PromqlError;
use crate::functions::{go_int64, quantile};
use crate::value::{format_go_f, go_format_float};

/// The labels of a series' group.
fn group_labels(labels: &Labels, grouping: &[String], without: bool) -> Labels {
    let kept = labels.iter().filter(|l| {
        let listed = grouping.contains(&l.name);
        if without {
            !listed && l.name != METRIC_NAME
        } else {
            listed
        }
    });
    Labels::from_sorted(kept.cloned().collect())
}

/// The running state of sum/avg/min/max/count/group/stddev/stdvar for one group at one step.
#[derive(Clone, Copy, Default)]
struct Fold {
    seen: bool,
    value: f64,
    mean: f64,
    count: f64,
}

#[derive(Clone, Default)]
struct Accumulator {
    fold: Fold,
    values: Vec<f64>,
    members: Vec<(usize, f64)>,
}

pub(super) fn eval_aggregate(
    ev: &mut Evaluator<'_>,
    op: AggregateOp,
    expr: &Expr,
    param: Option<&Expr>,
    grouping: &[String],
    without: bool,
    steps: &Steps,
) -> Result<Val, PromqlError> {
    let fusable = matches!(
        op,
        AggregateOp::Sum
            | AggregateOp::Avg
            | AggregateOp::Min
            | AggregateOp::Max
            | AggregateOp::Count
            | AggregateOp::Group
            | AggregateOp::Stddev
            | AggregateOp::Stdvar
    );
    // `by` usually collapses many series into few groups; `without` rarely does.
    if fusable && !without {
        if let Expr::Call { func, args } = expr.unparen() {
            if super::calls::is_fusable_range_call(func.kind, args) {
                return fused_range_aggregate(ev, op, func, args, grouping, steps);
            }
        }
    }
    let param_value = match param {
        Some(param) => Some(ev.eval(param, steps)?),
        None => None,
    };
    let input = ev.eval(expr, steps)?;
    ev.done_with(&input);
    if let Some(value) = &param_value {
        ev.done_with(value);
    }
    let Val::Vector(input) = input else {
        return Err(PromqlError::exec("expected instant vector in aggregation expression"));
    };
    let scalar_param = match &param_value {
        Some(Val::Scalar(values)) => values.clone(),
        _ => Vec::new(),
    };
    if op == AggregateOp::CountValues {
        let Some(Val::String(label)) = &param_value else {
            return Err(PromqlError::exec("count_values requires a string parameter"));
        };
        if !is_valid_label_name(label) {
            return Err(PromqlError::exec(format!("invalid label name {label:?}")));
        }
        return count_values(ev, &input, label, grouping, without, steps).map(Val::Vector);
    }

    let mut group_of_series = Vec::with_capacity(input.len());
    let mut group_index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<Labels> = Vec::new();
    for series in &input {
        let labels = group_labels(&series.labels, grouping, without);
        let next = groups.len();
        let index = *group_index.entry(labels.clone()).or_insert(next);
        if index == next {
            groups.push(labels);
        }
        group_of_series.push(index);
    }

    let is_k = matches!(op, AggregateOp::Topk | AggregateOp::Bottomk);
    let mut builder = MatrixBuilder::new();
    let slots: Vec<usize> =
        if is_k { Vec::new() } else { groups.iter().map(|g| builder.slot(g.clone())).collect() };
    let mut topk_slots: HashMap<usize, usize> = HashMap::new();
    let mut cursors = StepCursors::new(&input);
    let mut accumulators = vec![Accumulator::default(); groups.len()];
    for (step, t) in steps.iter() {
        ev.check_deadline()?;
        for acc in accumulators.iter_mut() {
            acc.fold.seen = false;
            acc.values.clear();
            acc.members.clear();
        }
        if is_k {
            let param = scalar_param.get(step).copied().unwrap_or(f64::NAN);
            // Prometheus's convertibleToInt64: the float comparison rejects NaN and huge values.
            if !(-9.223_372_036_854_775e18..=9.223_372_036_854_775e18).contains(&param) {
                return Err(PromqlError::exec(format!(
                    "Scalar value {} overflows int64",
                    go_format_float(param)
                )));
            }
            let k = go_int64(param);
            if k < 1 {
                continue;
            }
            let mut order: Vec<usize> = Vec::new();
            for (index, &group) in group_of_series.iter().enumerate() {
                let Some(value) = cursors.value_at(&input, index, t) else { continue };
                let acc = &mut accumulators[group];
                if !acc.fold.seen {
                    acc.fold.seen = true;
                    order.push(group);
                }
                let mut heap =
                    KHeap { items: std::mem::take(&mut acc.members), top: op == AggregateOp::Topk };
                heap.offer(k, (index, value));
                acc.members = heap.items;
            }
            for group in order {
                let acc = &mut accumulators[group];
                let mut heap =
                    KHeap { items: std::mem::take(&mut acc.members), top: op == AggregateOp::Topk };
                heap.sort_best_first();
                for &(index, value) in &heap.items {
                    let slot =
                        *topk_slots.entry(index).or_insert_with(|| builder.slot(input[index].labels.clone()));
                    builder.push(slot, t, value)?;
                }
                acc.members = heap.items;
            }
            continue;
        }
        for (index, &group) in group_of_series.iter().enumerate() {
            let Some(value) = cursors.value_at(&input, index, t) else { continue };
            let acc = &mut accumulators[group];
            if op == AggregateOp::Quantile {
                acc.values.push(value);
            }
            fold(op, &mut acc.fold, value);
        }
        for (group, acc) in accumulators.iter_mut().enumerate() {
            if !acc.fold.seen {
                continue;
            }
            let value = if op == AggregateOp::Quantile {
                let q = scalar_param.get(step).copied().unwrap_or(f64::NAN);
                quantile(q, &mut acc.values)
            } else {
                fold_result(op, &acc.fold)
            };
            builder.push(slots[group], t, value)?;
        }
    }
    builder.finish().map(Val::Vector)
}

/// The bounded heap of topk/bottomk, replaying Prometheus's heap operations exactly so that ties
/// select and order the same series.
struct KHeap {
    items: Vec<(usize, f64)>,
    /// True for topk (the root is the smallest kept value), false for bottomk.
    top: bool,
}

impl KHeap {
    /// Prometheus's `vectorByValueHeap`/`vectorByReverseValueHeap` order: NaN sorts first.
    fn less(&self, i: usize, j: usize) -> bool {
        let (a, b) = (self.items[i].1, self.items[j].1);
        if a.is_nan() {
            return true;
        }
        if self.top {
            a < b
        } else {
            a > b
        }
    }

    fn up(&mut self, mut j: usize) {
        while j > 0 {
            let parent = (j - 1) / 2;
            if !self.less(j, parent) {
                break;
            }
            self.items.swap(parent, j);
            j = parent;
        }
    }

    fn down(&mut self, mut i: usize, n: usize) {
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let mut child = left;
            if left + 1 < n && self.less(left + 1, left) {
                child = left + 1;
            }
            if !self.less(child, i) {
                break;
            }
            self.items.swap(i, child);
            i = child;
        }
    }

    /// Considers one sample for a heap that keeps at most `k` samples.
    fn offer(&mut self, k: i64, item: (usize, f64)) {
        if self.items.is_empty() {
            self.items.push(item);
            return;
        }
        let root = self.items[0].1;
        let beats_root = if self.top { root < item.1 } else { root > item.1 };
        if (self.items.len() as i64) < k || beats_root || root.is_nan() {
            if self.items.len() as i64 == k {
                if k == 1 {
                    self.items[0] = item;
                    return;
                }
                let last = self.items.len() - 1;
                self.items.swap(0, last);
                self.down(0, last);
                self.items.pop();
            }
            self.items.push(item);
            let last = self.items.len() - 1;
            self.up(last);
        }
    }

    /// `sort.Sort(sort.Reverse(heap))`: Go sorts short inputs by insertion sort.
    fn sort_best_first(&mut self) {
        for i in 1..self.items.len() {
            let mut j = i;
            while j > 0 && self.less(j - 1, j) {
                self.items.swap(j, j - 1);
                j -= 1;
            }
        }
    }
}

#[inline]
fn fold(op: AggregateOp, acc: &mut Fold, value: f64) {
    if !acc.seen {
        acc.seen = true;
        acc.value = value;
        acc.mean = value;
        acc.count = 1.0;
        match op {
            AggregateOp::Group => acc.value = 1.0,
            AggregateOp::Stddev | AggregateOp::Stdvar => acc.value = 0.0,
            _ => {}
        }
        return;
    }
    match op {
        AggregateOp::Sum => acc.value += value,
        AggregateOp::Avg => {
            acc.count += 1.0;
            if acc.mean.is_infinite() {
                if value.is_infinite() && (acc.mean > 0.0) == (value > 0.0) {
                    return;
                }
                if !value.is_infinite() && !value.is_nan() {
                    return;
                }
            }
            acc.mean += value / acc.count - acc.mean / acc.count;
        }
        AggregateOp::Count => acc.count += 1.0,
        AggregateOp::Max => {
            if acc.value < value || acc.value.is_nan() {
                acc.value = value;
            }
        }
        AggregateOp::Min => {
            if acc.value > value || acc.value.is_nan() {
                acc.value = value;
            }
        }
        AggregateOp::Stddev | AggregateOp::Stdvar => {
            acc.count += 1.0;
            let delta = value - acc.mean;
            acc.mean += delta / acc.count;
            acc.value += delta * (value - acc.mean);
        }
        AggregateOp::Group
        | AggregateOp::Quantile
        | AggregateOp::Topk
        | AggregateOp::Bottomk
        | AggregateOp::CountValues => {}
    }
}

/// The aggregated value of a folded group.
fn fold_result(op: AggregateOp, acc: &Fold) -> f64 {
    match op {
        AggregateOp::Avg => acc.mean,
        AggregateOp::Count => acc.count,
        AggregateOp::Stdvar => acc.value / acc.count,
        AggregateOp::Stddev => (acc.value / acc.count).sqrt(),
        _ => acc.value,
    }
}

/// `sum by (...) (rate(x[5m]))` and friends: folds each series' function output straight into
/// per-group, per-step state instead of materialising the function's whole output matrix.
/// Folding happens in series order at every step, so results are identical to the plain path.
fn fused_range_aggregate(
    ev: &mut Evaluator<'_>,
    op: AggregateOp,
    func: &crate::functions::FunctionDef,
    args: &[Expr],
    grouping: &[String],
    steps: &Steps,
) -> Result<Val, PromqlError> {
    let n = steps.len();
    let mut group_index: HashMap<Labels, usize> = HashMap::new();
    let mut groups: Vec<Labels> = Vec::new();
    let mut folds: Vec<Fold> = Vec::new();
    // Series arrive sorted by labels, so neighbours mostly share a group: the previous series'
    // group is tried first, comparing grouping labels in place instead of building a key.
    let mut previous: Option<usize> = None;
    super::calls::eval_range_series(ev, func.kind, args, steps, |labels, points| {
        let grouped = || labels.iter().filter(|label| grouping.contains(&label.name));
        let group = match previous {
            Some(group) if groups[group].iter().eq(grouped()) => group,
            _ => {
                let key = Labels::from_sorted(grouped().cloned().collect());
                match group_index.get(&key) {
                    Some(&group) => group,
                    None => {
                        let group = groups.len();
                        group_index.insert(key.clone(), group);
                        groups.push(key);
                        folds.resize(folds.len() + n, Fold::default());
                        group
                    }
                }
            }
        };
        previous = Some(group);
        let group_folds = &mut folds[group * n..(group + 1) * n];
        let mut cursor = super::StepCounter::new(steps);
        if op == AggregateOp::Sum {
            // The usual case, in a loop of its own: with the operator constant, the inlined
            // `fold` is just the addition.
            for point in &points {
                fold(AggregateOp::Sum, &mut group_folds[cursor.index_of(point.timestamp_ms)], point.value);
            }
            return;
        }
        for point in &points {
            fold(op, &mut group_folds[cursor.index_of(point.timestamp_ms)], point.value);
        }
    })?;
    let mut builder = MatrixBuilder::new();
    for (group, labels) in groups.into_iter().enumerate() {
        let slot = builder.slot(labels);
        for (step, t) in steps.iter() {
            let state = &folds[group * n + step];
            if state.seen {
                builder.push(slot, t, fold_result(op, state))?;
            }
        }
    }
    builder.finish().map(Val::Vector)
}

fn count_values(
    ev: &Evaluator<'_>,
    input: &[StepSeries],
    label: &str,
    grouping: &[String],
    without: bool,
    steps: &Steps,
) -> Result<Vec<StepSeries>, PromqlError> {
    let base: Vec<Labels> = input.iter().map(|s| group_labels(&s.labels, grouping, without)).collect();
    let value_label_dropped = without && grouping.iter().any(|g| g == label);
    let mut builder = MatrixBuilder::new();
    let mut slot_cache: HashMap<(usize, u64), usize> = HashMap::new();
    let mut cursors = StepCursors::new(input);
    let mut counts: Vec<f64> = Vec::new();
    let mut touched: Vec<usize> = Vec::new();
    for (_, t) in steps.iter() {
        ev.check_deadline()?;
        touched.clear();
        for (index, labels) in base.iter().enumerate() {
            let Some(value) = cursors.value_at(input, index, t) else { continue };
            let slot = *slot_cache.entry((index, value.to_bits())).or_insert_with(|| {
                let mut out = labels.clone();
                if !value_label_dropped {
                    out.set(label, format_go_f(value));
                }
                builder.slot(out)
            });
            if counts.len() <= slot {
                counts.resize(slot + 1, 0.0);
            }
            if counts[slot] == 0.0 {
                touched.push(slot);
            }
            counts[slot] += 1.0;
        }
        for &slot in &touched {
            builder.push(slot, t, counts[slot])?;
            counts[slot] = 0.0;
        }
    }
    builder.finish()
}
