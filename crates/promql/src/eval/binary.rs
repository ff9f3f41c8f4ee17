//! Binary operators: scalar/scalar, vector/scalar, vector/vector with `on`/`ignoring`/`group_*`,
//! and the set operators, with Prometheus's matching errors.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use neocortex_core::{Labels, METRIC_NAME};

use super::{Evaluator, MatrixBuilder, StepCursors, StepSeries, Steps, Val};
use crate::ast::{BinaryOp, Expr, MatchCardinality, VectorMatching};
use crate::error::PromqlError;
use crate::gomath;

pub(super) fn eval_binary(
    ev: &mut Evaluator<'_>,
    op: BinaryOp,
    lhs: &Expr,
    rhs: &Expr,
    return_bool: bool,
    matching: Option<&VectorMatching>,
    steps: &Steps,
) -> Result<Val, PromqlError> {
    let left = ev.eval(lhs, steps)?;
    let right = ev.eval(rhs, steps)?;
    ev.done_with(&left);
    ev.done_with(&right);
    match (left, right) {
        (Val::Scalar(a), Val::Scalar(b)) => Ok(Val::Scalar(
            a.iter()
                .zip(&b)
                .map(|(&x, &y)| {
                    let (value, keep) = elem_binop(op, x, y);
                    if return_bool {
                        bool_value(keep)
                    } else {
                        value
                    }
                })
                .collect(),
        )),
        (Val::Vector(vector), Val::Scalar(scalar)) => {
            vector_scalar(op, vector, &scalar, false, return_bool, steps).map(Val::Vector)
        }
        (Val::Scalar(scalar), Val::Vector(vector)) => {
            vector_scalar(op, vector, &scalar, true, return_bool, steps).map(Val::Vector)
        }
        (Val::Vector(left), Val::Vector(right)) => {
            let default_matching;
            let matching = match matching {
                Some(m) => m,
                None => {
                    default_matching = VectorMatching {
                        card: if op.is_set_operator() {
                            MatchCardinality::ManyToMany
                        } else {
                            MatchCardinality::OneToOne
                        },
                        labels: Vec::new(),
                        on: false,
                        include: Vec::new(),
                    };
                    &default_matching
                }
            };
            let result = match op {
                BinaryOp::And | BinaryOp::Unless => set_and_unless(op, left, right, matching, steps, ev)?,
                BinaryOp::Or => set_or(left, right, matching, steps, ev)?,
                _ => vector_vector(op, left, right, matching, return_bool, steps, ev)?,
            };
            Ok(Val::Vector(result))
        }
        _ => Err(PromqlError::exec("binary expression must contain only scalar and instant vector types")),
    }
}

fn bool_value(keep: bool) -> f64 {
    if keep {
        1.0
    } else {
        0.0
    }
}

/// Applies `op` to two floats; the flag says whether a comparison holds (always true otherwise).
pub(crate) fn elem_binop(op: BinaryOp, lhs: f64, rhs: f64) -> (f64, bool) {
    match op {
        BinaryOp::Add => (lhs + rhs, true),
        BinaryOp::Sub => (lhs - rhs, true),
        BinaryOp::Mul => (lhs * rhs, true),
        BinaryOp::Div => (lhs / rhs, true),
        BinaryOp::Mod => (lhs % rhs, true),
        BinaryOp::Pow => (gomath::pow(lhs, rhs), true),
        BinaryOp::Atan2 => (gomath::atan2(lhs, rhs), true),
        BinaryOp::Eql => (lhs, lhs == rhs),
        BinaryOp::Neq => (lhs, lhs != rhs),
        BinaryOp::Gtr => (lhs, lhs > rhs),
        BinaryOp::Lss => (lhs, lhs < rhs),
        BinaryOp::Gte => (lhs, lhs >= rhs),
        BinaryOp::Lte => (lhs, lhs <= rhs),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Unless => (lhs, true),
    }
}

fn vector_scalar(
    op: BinaryOp,
    vector: Vec<StepSeries>,
    scalar: &[f64],
    scalar_on_left: bool,
    return_bool: bool,
    steps: &Steps,
) -> Result<Vec<StepSeries>, PromqlError> {
    let drop_name = op.drops_metric_name() || return_bool;
    let mut builder = MatrixBuilder::new();
    for series in vector {
        let labels = if drop_name { series.labels.without_metric_name() } else { series.labels };
        let slot = builder.slot(labels);
        let mut cursor = super::StepCounter::new(steps);
        for point in series.points {
            let s = scalar[cursor.index_of(point.timestamp_ms)];
            let (lv, rv) = if scalar_on_left { (s, point.value) } else { (point.value, s) };
            let (mut value, keep) = elem_binop(op, lv, rv);
            if op.is_comparison() && scalar_on_left {
                value = rv;
            }
            if return_bool {
                value = bool_value(keep);
            } else if !keep {
                continue;
            }
            builder.push(slot, point.timestamp_ms, value)?;
        }
    }
    builder.finish()
}

/// The hash of the labels a vector match compares.
pub(crate) fn match_signature(labels: &Labels, on: bool, names: &[String]) -> u64 {
    let mut hasher = DefaultHasher::new();
    for label in labels.iter() {
        let included = if on {
            names.contains(&label.name)
        } else {
            label.name != METRIC_NAME && !names.contains(&label.name)
        };
        if included {
            label.name.hash(&mut hasher);
            label.value.hash(&mut hasher);
        }
    }
    hasher.finish()
}

fn matched_labels(labels: &Labels, matching: &VectorMatching) -> Labels {
    let kept = labels.iter().filter(|l| {
        if matching.on {
            matching.labels.contains(&l.name)
        } else {
            l.name != METRIC_NAME && !matching.labels.contains(&l.name)
        }
    });
    Labels::from_sorted(kept.cloned().collect())
}

fn result_labels(
    op: BinaryOp,
    many: &Labels,
    one: &Labels,
    matching: &VectorMatching,
    return_bool: bool,
) -> Labels {
    let mut labels = many.clone();
    if op.drops_metric_name() || return_bool {
        labels.remove(METRIC_NAME);
    }
    if matching.card == MatchCardinality::OneToOne {
        if matching.on {
            let kept: Vec<_> = labels.iter().filter(|l| matching.labels.contains(&l.name)).cloned().collect();
            labels = Labels::from_sorted(kept);
        } else {
            for name in &matching.labels {
                labels.remove(name);
            }
        }
    }
    for name in &matching.include {
        match one.get(name) {
            Some(value) => labels.set(name, value),
            None => labels.remove(name),
        }
    }
    labels
}

fn vector_vector(
    op: BinaryOp,
    left: Vec<StepSeries>,
    right: Vec<StepSeries>,
    matching: &VectorMatching,
    return_bool: bool,
    steps: &Steps,
    ev: &Evaluator<'_>,
) -> Result<Vec<StepSeries>, PromqlError> {
    let swapped = matching.card == MatchCardinality::OneToMany;
    let (many, one) = if swapped { (right, left) } else { (left, right) };
    let many_sigs: Vec<u64> =
        many.iter().map(|s| match_signature(&s.labels, matching.on, &matching.labels)).collect();
    let one_sigs: Vec<u64> =
        one.iter().map(|s| match_signature(&s.labels, matching.on, &matching.labels)).collect();
    let mut many_cursors = StepCursors::new(&many);
    let mut one_cursors = StepCursors::new(&one);
    let mut builder = MatrixBuilder::new();
    let mut slots: HashMap<(usize, usize), usize> = HashMap::new();
    let mut one_by_sig: HashMap<u64, (usize, f64)> = HashMap::new();
    let mut matched_one_to_one: HashSet<u64> = HashSet::new();
    let mut matched_many: HashMap<u64, HashSet<usize>> = HashMap::new();
    for (_, t) in steps.iter() {
        ev.check_deadline()?;
        one_by_sig.clear();
        matched_one_to_one.clear();
        matched_many.clear();
        for (index, sig) in one_sigs.iter().enumerate() {
            let Some(value) = one_cursors.value_at(&one, index, t) else { continue };
            if let Some((previous, _)) = one_by_sig.insert(*sig, (index, value)) {
                let side = if swapped { "left" } else { "right" };
                return Err(PromqlError::exec(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: \
                     [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    matched_labels(&one[index].labels, matching),
                    one[index].labels,
                    one[previous].labels
                )));
            }
        }
        if one_by_sig.is_empty() {
            continue;
        }
        for (index, sig) in many_sigs.iter().enumerate() {
            let Some(many_value) = many_cursors.value_at(&many, index, t) else { continue };
            let Some(&(one_index, one_value)) = one_by_sig.get(sig) else { continue };
            let (vl, vr) = if swapped { (one_value, many_value) } else { (many_value, one_value) };
            let (mut value, keep) = elem_binop(op, vl, vr);
            if return_bool {
                value = bool_value(keep);
            } else if !keep {
                continue;
            }
            let slot = match slots.get(&(index, one_index)) {
                Some(&slot) => slot,
                None => {
                    let labels =
                        result_labels(op, &many[index].labels, &one[one_index].labels, matching, return_bool);
                    let slot = builder.slot(labels);
                    slots.insert((index, one_index), slot);
                    slot
                }
            };
            if matching.card == MatchCardinality::OneToOne {
                if !matched_one_to_one.insert(*sig) {
                    return Err(PromqlError::exec(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    ));
                }
            } else if !matched_many.entry(*sig).or_default().insert(slot) {
                return Err(PromqlError::exec(
                    "multiple matches for labels: grouping labels must ensure unique matches",
                ));
            }
            builder.push(slot, t, value)?;
        }
    }
    builder.finish()
}

fn set_and_unless(
    op: BinaryOp,
    left: Vec<StepSeries>,
    right: Vec<StepSeries>,
    matching: &VectorMatching,
    steps: &Steps,
    ev: &Evaluator<'_>,
) -> Result<Vec<StepSeries>, PromqlError> {
    let left_sigs: Vec<u64> =
        left.iter().map(|s| match_signature(&s.labels, matching.on, &matching.labels)).collect();
    let right_sigs: Vec<u64> =
        right.iter().map(|s| match_signature(&s.labels, matching.on, &matching.labels)).collect();
    let mut left_cursors = StepCursors::new(&left);
    let mut right_cursors = StepCursors::new(&right);
    let mut builder = MatrixBuilder::new();
    let slots: Vec<usize> = left.iter().map(|s| builder.slot(s.labels.clone())).collect();
    let mut present: HashSet<u64> = HashSet::new();
    for (_, t) in steps.iter() {
        ev.check_deadline()?;
        present.clear();
        for (index, sig) in right_sigs.iter().enumerate() {
            if right_cursors.value_at(&right, index, t).is_some() {
                present.insert(*sig);
            }
        }
        for (index, sig) in left_sigs.iter().enumerate() {
            let Some(value) = left_cursors.value_at(&left, index, t) else { continue };
            let matched = present.contains(sig);
            if matched == (op == BinaryOp::And) {
                builder.push(slots[index], t, value)?;
            }
        }
    }
    builder.finish()
}

fn set_or(
    left: Vec<StepSeries>,
    right: Vec<StepSeries>,
    matching: &VectorMatching,
    steps: &Steps,
    ev: &Evaluator<'_>,
) -> Result<Vec<StepSeries>, PromqlError> {
    let left_sigs: Vec<u64> =
        left.iter().map(|s| match_signature(&s.labels, matching.on, &matching.labels)).collect();
    let right_sigs: Vec<u64> =
        right.iter().map(|s| match_signature(&s.labels, matching.on, &matching.labels)).collect();
    let mut left_cursors = StepCursors::new(&left);
    let mut right_cursors = StepCursors::new(&right);
    let mut builder = MatrixBuilder::new();
    let left_slots: Vec<usize> = left.iter().map(|s| builder.slot(s.labels.clone())).collect();
    let right_slots: Vec<usize> = right.iter().map(|s| builder.slot(s.labels.clone())).collect();
    let mut present: HashSet<u64> = HashSet::new();
    for (_, t) in steps.iter() {
        ev.check_deadline()?;
        present.clear();
        for (index, sig) in left_sigs.iter().enumerate() {
            if let Some(value) = left_cursors.value_at(&left, index, t) {
                present.insert(*sig);
                builder.push(left_slots[index], t, value)?;
            }
        }
        for (index, sig) in right_sigs.iter().enumerate() {
            let Some(value) = right_cursors.value_at(&right, index, t) else { continue };
            if !present.contains(sig) {
                builder.push(right_slots[index], t, value)?;
            }
        }
    }
    builder.finish()
}
