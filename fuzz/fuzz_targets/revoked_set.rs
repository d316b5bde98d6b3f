//! Arbitrary sequences of revocations, expiries, prunes and lookups against the in-memory
//! revoked set, beside a plain model of what must be refused. The property: a revoked jti whose
//! token can still verify (expiry plus leeway not yet passed) is always found, and a jti never
//! revoked is never found. Subjects: the cut-off is the latest one applied.

#![no_main]

use libfuzzer_sys::fuzz_target;
use revocation_fuzz::revocation::RevokedSet;
use revocation_fuzz::verification::Revocations;
use std::collections::HashMap;

const LEEWAY: f64 = 30.0;

fuzz_target!(|data: &[u8]| {
    let mut set = RevokedSet::default();
    // jti -> expiry as held (whole seconds, rounded up; None = never dropped)
    let mut model: HashMap<String, Option<f64>> = HashMap::new();
    let mut subjects: HashMap<String, f64> = HashMap::new();
    let mut now = 1_800_000_000.0_f64;
    for op in data.chunks_exact(4) {
        let jti = format!("j{}", op[1] % 32);
        match op[0] % 5 {
            0 => {
                // Revoke, with an expiry relative to now (or none).
                let exp = (op[2] != 0)
                    .then(|| now + (op[2] as f64 - 128.0) * 10.0 + op[3] as f64 / 256.0);
                set.apply_jti(&jti, exp, now, LEEWAY);
                match exp {
                    Some(e) if e + LEEWAY < now => {
                        model.remove(&jti);
                    }
                    Some(e) => {
                        model.insert(jti, Some(e.ceil()));
                    }
                    None => {
                        model.insert(jti, None);
                    }
                }
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
