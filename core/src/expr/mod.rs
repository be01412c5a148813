//! Entra's attribute-mapping expression language.
//!
//! See Microsoft's "Reference for writing expressions for attribute mappings in Microsoft Entra
//! ID" and `docs/mapping.md`.

mod mapping_source;

pub use mapping_source::{AttributeMappingSource, MappingSourceType, MappingSourceParameter};
