//! Tokio peer of `avx-sched-bench`: the same three workloads on Tokio's
//! multi-thread runtime, one JSON line per workload.
//!
//!   tokio-sched-bench <spawn|chain|pingpong|all> <n> <workers> <rounds>
//!
//! - `spawn`: one task on a worker spawns `n` no-op tasks; each decrements a
//!   shared counter and the last one signals the main thread.
//! - `chain`: task k spawns task k+1, `n` tasks in all; the last signals.
//! - `pingpong`: two long-lived tasks alternate through two `Notify`s for `n`
//!   rounds (2n wake-ups); A signals at the end.
//!
//! The clock runs from the root spawn to the signal. One runtime per
//! workload, reused across rounds; the median round is reported.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::Notify;

const USAGE: &str = "usage: tokio-sched-bench <spawn|chain|pingpong|all> <n> <workers> <rounds>";

/// Time one round: `start` gets the sender to signal on, the clock stops
/// when the signal arrives.
fn time(start: impl FnOnce(SyncSender<()>)) -> Duration {
    let (tx, rx) = sync_channel(1);
    let t = Instant::now();
    start(tx);
    rx.recv().expect("the workload dropped its signal");
    t.elapsed()
}

fn spawn(rt: &Runtime, n: usize) -> Duration {
    time(|tx| {
        rt.spawn(async move {
            let done = Arc::new((AtomicUsize::new(n), tx));
            for _ in 0..n {
                let done = done.clone();
                tokio::spawn(async move {
                    if done.0.fetch_sub(1, Ordering::AcqRel) == 1 {
                        done.1.send(()).unwrap();
                    }
                });
            }
        });
    })
}

/// Spawn task `k` of a chain of `n`, from inside the runtime.
fn link(k: usize, n: usize, tx: SyncSender<()>) {
    tokio::spawn(async move {
        if k + 1 == n {
            tx.send(()).unwrap();
        } else {
            link(k + 1, n, tx);
        }
    });
}

fn chain(rt: &Runtime, n: usize) -> Duration {
    time(|tx| {
        rt.spawn(async move {
            if n <= 1 {
                tx.send(()).unwrap();
            } else {
                link(1, n, tx);
            }
        });
    })
}

fn pingpong(rt: &Runtime, n: usize) -> Duration {
    time(|tx| {
        let a = Arc::new(Notify::new());
        let b = Arc::new(Notify::new());
        let (a2, b2) = (a.clone(), b.clone());
        rt.spawn(async move {
            for _ in 0..n {
                b2.notified().await;
                a2.notify_one();
            }
        });
        rt.spawn(async move {
            let mut rounds = 0;
            for _ in 0..n {
                rounds += 1;
                b.notify_one();
                a.notified().await;
            }
            assert_eq!(rounds, n);
            tx.send(()).unwrap();
        });
    })
}

fn run(workload: &str, n: usize, workers: usize, rounds: usize) {
    let f = match workload {
        "spawn" => spawn,
        "chain" => chain,
        "pingpong" => pingpong,
        _ => unreachable!(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("cannot build the runtime");
    let mut ns: Vec<u128> = (0..rounds).map(|_| f(&rt, n).as_nanos()).collect();
    ns.sort_unstable();
    // The upper median, as the TypeScript comparisons take it.
    let median = ns[ns.len() / 2];
    println!(
        r#"{{"impl":"tokio","workload":"{workload}","n":{n},"workers":{workers},"rounds":{rounds},"median_ns":{median},"ns_per_op":{:.3}}}"#,
        median as f64 / n as f64
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match args.as_slice() {
        [w, n, workers, rounds] => match (n.parse(), workers.parse(), rounds.parse()) {
            (Ok(n), Ok(workers), Ok(rounds)) if n > 0 && workers > 0 && rounds > 0 => {
                Some((w.as_str(), n, workers, rounds))
            }
            _ => None,
        },
        _ => None,
    };
    let workloads: &[&str] = match parsed {
        Some(("all", ..)) => &["spawn", "chain", "pingpong"],
        Some((w @ ("spawn" | "chain" | "pingpong"), ..)) => &[w],
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let (_, n, workers, rounds) = parsed.unwrap();
    for w in workloads {
        run(w, n, workers, rounds);
    }
    ExitCode::SUCCESS
}
