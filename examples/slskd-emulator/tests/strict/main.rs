//! The emulator held to slskd 0.26's rules, over real HTTP. Each module covers one behaviour;
//! `common` starts an emulator and talks to it.

mod audio;
mod common;
mod files;
mod guards;
mod hooks;
mod playback;
mod positions;
mod retries;
mod searches;
mod transfers;
