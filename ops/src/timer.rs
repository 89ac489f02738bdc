//! A hyper `Timer` on glommio timers. hyper silently disables `header_read_timeout` without a
//! timer, so slowloris clients would hold connections forever.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::task::AtomicWaker;
use hyper::rt::{Sleep, Timer};

/// hyper's timer, backed by a glommio timer task on the current executor.
#[derive(Clone, Copy, Debug, Default)]
pub struct GlommioTimer;

/// Shared between the sleeping future (which hyper requires to be `Send + Sync`) and the local
/// glommio task that fires it.
#[derive(Default)]
struct Alarm {
    fired: AtomicBool,
    waker: AtomicWaker,
}

struct GlommioSleep {
    alarm: Arc<Alarm>,
}

impl Future for GlommioSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.alarm.waker.register(cx.waker());
        if self.alarm.fired.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Sleep for GlommioSleep {}

impl Timer for GlommioTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        let alarm = Arc::new(Alarm::default());
        let firing = Arc::clone(&alarm);
        glommio::spawn_local(async move {
            glommio::timer::sleep(duration).await;
            firing.fired.store(true, Ordering::Release);
            firing.waker.wake();
        })
        .detach();
        Box::pin(GlommioSleep { alarm })
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        self.sleep(deadline.saturating_duration_since(Instant::now()))
    }
}
