//! The `outpost` executable: everything happens in [`outpost_desktop::run`].

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    outpost_desktop::run();
}
