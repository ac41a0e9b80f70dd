// The shared plan table's harness, `include!`d by every applier's table test (core, the
// Windows and macOS plans, the Linux netns test): it lists `NN-name.conf` in this
// directory and compares each one's rendering with `NN-name.EXT`. With
// `FERROWG_BLESS=1` it writes the expected files instead (review the diff, then commit).

/// This directory (tests/plans at the repository root).
fn plans_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/plans")
}

/// Every `*.conf` of the table, sorted by name: (stem, text).
fn plan_files() -> Vec<(String, String)> {
    let dir = plans_dir();
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "conf").then_some(path)
        })
        .map(|path| {
            let stem = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (stem, text)
        })
        .collect();
    files.sort();
    assert!(files.len() >= 10, "the plan table in {} is incomplete", dir.display());
    files
}

/// Renders every file with `render` and compares with its `.EXT` file; every file must
/// have one, and every `.EXT` file a `.conf`. Panics listing all differences.
fn check_table(ext: &str, mut render: impl FnMut(&str, &str) -> String) {
    let dir = plans_dir();
    let bless = std::env::var_os("FERROWG_BLESS").is_some_and(|v| v == "1");
    let files = plan_files();
    let mut failures = Vec::new();
    for (stem, text) in &files {
        let got = render(stem, text);
        let path = dir.join(format!("{stem}.{ext}"));
        if bless {
            std::fs::write(&path, &got).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(want) if want == got => {}
            Ok(want) => {
                failures.push(format!("{stem}.{ext} differs:\n{}", table_diff(&want, &got)))
            }
            Err(e) => failures.push(format!("{stem}.{ext}: {e}; rendered:\n{got}")),
        }
    }
    let orphans = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.path().file_name().map(|n| n.to_string_lossy().into_owned()))
        .filter_map(|n| n.strip_suffix(&format!(".{ext}")).map(str::to_owned))
        .filter(|stem| !files.iter().any(|(s, _)| s == stem));
    for stem in orphans {
        failures.push(format!("{stem}.{ext} has no {stem}.conf"));
    }
    assert!(
        failures.is_empty(),
        "{} of the plan table ({}) differ; if the change is intended, rerun with \
         FERROWG_BLESS=1 and review the diff:\n\n{}",
        failures.len(),
        dir.display(),
        failures.join("\n")
    );
}

/// The lines only in `want` (`-`) and only in `got` (`+`), in order.
fn table_diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let mut out = String::new();
    for l in w.iter().filter(|l| !g.contains(l)) {
        out += &format!("  - {l}\n");
    }
    for l in g.iter().filter(|l| !w.contains(l)) {
        out += &format!("  + {l}\n");
    }
    if out.is_empty() {
        out = format!("  (same lines, other order)\n  want:\n{want}\n  got:\n{got}\n");
    }
    out
}
