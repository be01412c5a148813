//! Entra's attribute-mapping expression language.
