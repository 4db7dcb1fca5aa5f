//! The generated BuildKit protocol types (`proto/*.proto`, compiled by `build.rs`).
#![allow(
    missing_docs,
    missing_debug_implementations,
    clippy::all,
    clippy::pedantic
)]

/// `pb`: LLB (solver/pb/ops.proto).
pub mod pb {
    tonic::include_proto!("pb");
}

/// `fsutil.types`: file stats of ReadDir/StatFile.
pub mod fsutil {
    /// `fsutil.types`.
    pub mod types {
        tonic::include_proto!("fsutil.types");
    }
}

/// `google.rpc`: the error of a Return.
pub mod google {
    /// `google.rpc`.
    pub mod rpc {
        tonic::include_proto!("google.rpc");
    }
}

/// `moby.buildkit.v1.*`.
pub mod moby {
    /// `moby.buildkit`.
    pub mod buildkit {
        /// `moby.buildkit.v1`.
        pub mod v1 {
            /// `moby.buildkit.v1.apicaps`.
            pub mod apicaps {
                tonic::include_proto!("moby.buildkit.v1.apicaps");
            }
            /// `moby.buildkit.v1.frontend`: the LLBBridge service.
            pub mod frontend {
                tonic::include_proto!("moby.buildkit.v1.frontend");
            }
        }
    }
}

pub use moby::buildkit::v1::frontend as gw;
