//! Protocol version 2 (gridwarden 0.1.0): its frozen shapes and their
//! conversions to and from the current ones. The server speaks it to phones
//! not yet updated (docs/protocol.md, "Versions").

mod convert;
pub mod shapes;

pub use convert::{
    client_from_v2, client_to_v2, error_to_v2, server_from_v2, server_to_v2, Unrepresentable,
};
