//! `--summary`: every row's figures, as the rows wrote them to `target/bench/*.csv`, in one table
//! (`target/bench/summary.md`, printed too) and one CSV (`target/bench/summary.csv`), each figure with
//! the durability it was taken with and when, so a run can be committed or compared with another
//! commit's. A row not run this time keeps its last figures, with their older time.

use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};

pub fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench")
}

/// Writes one row's figures as `figure,value,durability` to `target/bench/<row>.csv`.
pub fn write_row(row: &str, figures: &[(String, f64)], durability: &str) {
    let dir = dir();
    std::fs::create_dir_all(&dir).expect("target/bench");
    let mut csv = String::from("figure,value,durability\n");
    for (name, value) in figures {
        csv.push_str(&format!("{name},{value:.3},{durability}\n"));
    }
    std::fs::write(dir.join(format!("{row}.csv")), csv).expect("a row's CSV");
}

struct Figure {
    row: String,
    name: String,
    value: String,
    durability: String,
    measured_at: String,
}

fn read_rows(dir: &Path) -> Vec<Figure> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|f| {
        f.extension().is_some_and(|e| e == "csv") && f.file_stem().is_some_and(|s| s != "summary")
    });
    files.sort();
    let mut figures = Vec::new();
    for file in files {
        let row = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let measured_at = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .map(|t| DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default();
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for line in text.lines().skip(1) {
            let mut fields = line.splitn(3, ',');
            let (Some(name), Some(value)) = (fields.next(), fields.next()) else {
                continue;
            };
            figures.push(Figure {
                row: row.clone(),
                name: name.to_owned(),
                value: value.to_owned(),
                durability: fields.next().unwrap_or("not a database figure").to_owned(),
                measured_at: measured_at.clone(),
            });
        }
    }
    figures
}

pub fn write() {
    let dir = dir();
    let figures = read_rows(&dir);
    let commit = std::env::var("BENCH_COMMIT").unwrap_or_else(|_| "unknown".into());
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut md = format!(
        "# `make bench` summary\n\nCommit {commit}, summarised {now}. Each figure is as its row wrote it, \
         with the Postgres durability it was taken with and when.\n\n\
         | row | figure | value | durability | measured at |\n|---|---|---|---|---|\n"
    );
    let mut csv = String::from("row,figure,value,durability,measured_at,commit\n");
    for f in &figures {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            f.row, f.name, f.value, f.durability, f.measured_at
        ));
        csv.push_str(&format!(
            "{},{},{},{},{},{commit}\n",
            f.row, f.name, f.value, f.durability, f.measured_at
        ));
    }
    std::fs::create_dir_all(&dir).expect("target/bench");
    std::fs::write(dir.join("summary.md"), &md).expect("summary.md");
    std::fs::write(dir.join("summary.csv"), &csv).expect("summary.csv");
    println!("\n{md}\n(written to target/bench/summary.md and summary.csv)");
}

/// Figures named by constants, as `write_row` takes them.
pub fn named(figures: &[(&str, f64)]) -> Vec<(String, f64)> {
    figures.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
}
