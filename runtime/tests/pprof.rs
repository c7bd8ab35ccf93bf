//! The goroutine profile: it gunzips and decodes (prost, pprof's
//! `profile.proto`) to one sample per group of goroutines with its count,
//! stack and labels; with Go on PATH, `go tool pprof -top` reads it.

mod common;

use common::outer_a;
use goro::pprof::proto::Profile;
use prost::Message;
use std::io::Read;

/// Five goroutines named `name` parked three calls deep, while `body`
/// runs; released after.
fn with_parked(name: &str, body: impl FnOnce()) {
    let (tx, rx) = goro::chan::bounded::<u32>(0);
    let handles: Vec<_> = (0..5)
        .map(|_| {
            let rx = rx.clone();
            goro::Builder::new()
                .name(name)
                .spawn(move || outer_a(rx))
                .unwrap()
        })
        .collect();
    for h in &handles {
        common::wait_until_parked(h.id(), "chan receive");
    }
    body();
    drop(tx);
    handles
        .into_iter()
        .for_each(|h| assert_eq!(h.join().unwrap(), 3));
}

fn profile_bytes() -> Vec<u8> {
    let mut gz = Vec::new();
    goro::pprof::goroutine(&mut gz).unwrap();
    gz
}

fn decode(gz: &[u8]) -> Profile {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .unwrap();
    Profile::decode(raw.as_slice()).unwrap()
}

fn string(p: &Profile, index: i64) -> &str {
    &p.string_table[index as usize]
}

/// The function names of a sample's stack, innermost first.
fn stack(p: &Profile, location_ids: &[u64]) -> Vec<String> {
    let location = |id: u64| p.location.iter().find(|l| l.id == id).unwrap();
    let function = |id: u64| p.function.iter().find(|f| f.id == id).unwrap();
    location_ids
        .iter()
        .flat_map(|&id| location(id).line.iter())
        .map(|line| string(p, function(line.function_id).name).to_string())
        .collect()
}

#[test]
fn the_profile_decodes_to_counts_stacks_and_labels() {
    with_parked("profiled", || {
        let p = decode(&profile_bytes());
        let kind = &p.sample_type[0];
        assert_eq!(
            (string(&p, kind.r#type), string(&p, kind.unit)),
            ("goroutine", "count")
        );
        let labels = |s: &goro::pprof::proto::Sample| -> Vec<(String, String)> {
            let text = |i| string(&p, i).to_string();
            s.label.iter().map(|l| (text(l.key), text(l.str))).collect()
        };
        let ours: Vec<_> = p
            .sample
            .iter()
            .filter(|s| labels(s).contains(&("name".into(), "profiled".into())))
            .collect();
        assert_eq!(ours.len(), 1, "one group");
        let sample = ours[0];
        assert_eq!(sample.value, [5]);
        assert!(labels(sample).contains(&("state".into(), "chan receive".into())));
        let names = stack(&p, &sample.location_id);
        let at = |f: &str| names.iter().position(|n| n.ends_with(f));
        assert_eq!(
            [at("inner_c"), at("middle_b"), at("outer_a")],
            [Some(0), Some(1), Some(2)],
            "{names:?}"
        );
        let total: i64 = p.sample.iter().map(|s| s.value[0]).sum();
        assert!(total >= 5);
    });
}

/// Go's own reader takes the file: `go tool pprof -top` lists our frames.
/// Skipped (passes) where Go is not installed.
#[test]
fn go_tool_pprof_reads_it() {
    let Ok(version) = std::process::Command::new("go").arg("version").output() else {
        eprintln!("skipped: go is not on PATH");
        return;
    };
    assert!(version.status.success());
    let path = std::env::temp_dir().join(format!("goro-goroutine-{}.pb.gz", std::process::id()));
    with_parked("read by go", || {
        std::fs::write(&path, profile_bytes()).unwrap()
    });
    let top = std::process::Command::new("go")
        .args(["tool", "pprof", "-top"])
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    let out = String::from_utf8_lossy(&top.stdout);
    assert!(
        top.status.success(),
        "{}",
        String::from_utf8_lossy(&top.stderr)
    );
    assert!(out.contains("inner_c"), "{out}");
}
