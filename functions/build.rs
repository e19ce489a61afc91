//! Prepares the committed OpenAPI document (`openapi.json`) for the binaries, so that no instance spends
//! its first request on it: the document minified, as `GET /openapi.json` serves it, and the query
//! parameters each operation declares as a Rust table, which every REST function checks requests
//! against (parsing the 180 KB document at run time took a millisecond or two of each cold start).

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    println!("cargo::rerun-if-changed=openapi.json");
    let text = std::fs::read_to_string("openapi.json").expect("functions/openapi.json is readable");
    let document: serde_json::Value =
        serde_json::from_str(&text).expect("functions/openapi.json is JSON");
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out = Path::new(&out);

    std::fs::write(out.join("openapi.min.json"), document.to_string()).expect("written");

    let mut table = String::from("&[\n");
    for (path, item) in document["paths"].as_object().into_iter().flatten() {
        for (method, operation) in item.as_object().into_iter().flatten() {
            let names: Vec<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(|n| format!("{n:?}")))
                .collect();
            writeln!(
                table,
                "    ({:?}, {path:?}, &[{}]),",
                method.to_uppercase(),
                names.join(", ")
            )
            .expect("a String takes writes");
        }
    }
    table.push(']');
    std::fs::write(out.join("query_parameters.rs"), table).expect("written");
}
