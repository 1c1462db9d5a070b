//! The event record table in docs/dma.md is the one this crate generates:
//! the docs cannot drift from the RTL and the host's decoder, which both take
//! the layout from `holdback_regmap::event_queue`.
use holdback_regmap::event_queue::record_table;

#[test]
fn dma_doc_carries_the_generated_event_record_layout() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/dma.md");
    let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let table = record_table();
    assert!(doc.contains(&table), "{path} does not contain the generated event record table; replace it with:\n\n{table}");
}
