//! Arbitrary sequences of revocations, expiries, prunes and lookups against the in-memory
//! revoked set, beside a model of what the table holds. The rows arrive as the table hands them
//! out: a jti's expiry may be learned or extended, never shortened (the trigger refuses that),
//! and unknown means for good. The property: a jti whose latest row says its token can still
//! verify (expiry plus leeway not yet passed) is always found, and a jti never revoked is never
//! found. Subjects: the cut-off in force is the latest one.

#![no_main]

use libfuzzer_sys::fuzz_target;
use revocation_fuzz::revocation::RevokedSet;
use revocation_fuzz::verification::Revocations;
use std::collections::HashMap;

const LEEWAY: f64 = 30.0;

fuzz_target!(|data: &[u8]| {
    let mut set = RevokedSet::default();
    // jti -> the expiry its row holds (None: unknown, held for good)
    let mut model: HashMap<String, Option<f64>> = HashMap::new();
    let mut subjects: HashMap<String, f64> = HashMap::new();
    let mut now = 1_800_000_000.0_f64;
    for op in data.chunks_exact(4) {
        let jti = format!("j{}", op[1] % 32);
        match op[0] % 5 {
            0 => {
                // A row for this jti: a proposed expiry (or none), as the table would keep it.
                let proposed = (op[2] != 0)
                    .then(|| now + (op[2] as f64 - 128.0) * 10.0 + op[3] as f64 / 256.0);
                let held = match (model.get(&jti), proposed) {
                    (Some(None), _) | (_, None) => None,
                    (Some(Some(before)), Some(p)) => Some(before.max(p)),
                    (None, Some(p)) => Some(p),
                };
                set.apply_jti(&jti, held, now, LEEWAY);
                model.insert(jti, held);
            }
            1 => now += op[2] as f64 * 7.0,
            2 => {
                set.prune(now, LEEWAY);
            }
            3 => {
                let sub = format!("s{}", op[1] % 8);
                let cutoff = now - op[2] as f64;
                set.apply_subject(&sub, cutoff);
                let held = subjects.entry(sub).or_insert(cutoff);
                *held = held.max(cutoff);
            }
            _ => {}
        }
        for (jti, exp) in &model {
            let live = exp.is_none_or(|e| e + LEEWAY >= now);
            if live {
                assert!(
                    set.jti_revoked(jti),
                    "{jti} is revoked and live but not found"
                );
            }
        }
        for n in 32..40 {
            assert!(
                !set.jti_revoked(&format!("j{n}")),
                "a jti never revoked was found"
            );
        }
        for (sub, cutoff) in &subjects {
            assert_eq!(set.subject_cutoff(sub), Some(*cutoff));
        }
        assert_eq!(set.subject_cutoff("never"), None);
    }
});
