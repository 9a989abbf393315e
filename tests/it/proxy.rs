//! A TCP proxy a test can cut and restore: the database "goes away" for one
//! test's bot without touching the PostgreSQL server the other tests share.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct TcpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    /// `true` while connections are served; `false` closes the open ones.
    online: watch::Sender<bool>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl TcpProxy {
    /// Listens on a free local port and forwards every connection to
    /// `upstream`.
    pub async fn start(upstream: SocketAddr) -> Arc<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("proxy: bind: {e}"));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("proxy: local_addr: {e}"));
        let (online, _) = watch::channel(true);
        let proxy = Arc::new(TcpProxy {
            addr,
            upstream,
            online,
            accept: Mutex::new(None),
        });
        proxy.serve(listener);
        proxy
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn serve(&self, listener: TcpListener) {
        let upstream = self.upstream;
        let online = self.online.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mut stop = online.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = stop.wait_for(|online| !*online) => {}
                    }
                });
            }
        });
        *self.accept.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    }

    /// The server is gone: open connections close, new ones are refused.
    pub async fn cut(&self) {
        let accept = self.accept.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = accept {
            task.abort();
            let _ = task.await;
        }
        self.online.send_replace(false);
    }

    /// The server is back, on the same address.
    pub async fn restore(&self) {
        self.online.send_replace(true);
        let listener = TcpListener::bind(self.addr)
            .await
            .unwrap_or_else(|e| panic!("proxy: bind again: {e}"));
        self.serve(listener);
    }
}
