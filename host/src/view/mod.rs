//! What people and clients see: the API's DTOs and the human formats.

pub mod dto;
pub mod format;
pub mod plugin_dto;
pub mod templates;
