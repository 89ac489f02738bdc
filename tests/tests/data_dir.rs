//! The data directory lock: a second server on the same directory is refused with a message
//! naming the directory and the holder, and the first keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use quecto_tests::{fresh_data_dir, quecto_binary, server_args, ServerProcess};

#[test]
fn second_server_on_the_same_data_dir_is_refused() {
    let dir = fresh_data_dir();
    let dir_text = dir.to_string_lossy().into_owned();
    let first = ServerProcess::start_in(&dir, &[]);
    let second = Command::new(quecto_binary())
        .args(server_args(&dir))
        .output()
        .unwrap();
    assert_eq!(second.status.code(), Some(1), "second server must exit 1");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("in use by another QuectoDB server"),
        "{stderr}"
    );
    assert!(stderr.contains(&dir_text), "{stderr}");
    assert_eq!(first.post_sql("SELECT 1 FORMAT TabSeparated").text(), "1\n");
    drop(first);
    // Once the first server is gone (killed), its lock is released with its process.
    let third = ServerProcess::start_in(&dir, &[]);
    assert_eq!(third.post_sql("SELECT 1 FORMAT TabSeparated").text(), "1\n");
    drop(third);
    let _ = std::fs::remove_dir_all(&dir);
}
