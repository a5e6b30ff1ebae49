//! The conformance suite (`conformance/mod.rs`) against the salvo adapter,
//! behind salvo's `Compression` middleware.
#![cfg(feature = "salvo")]

#[macro_use]
mod conformance;

use conformance::Server;
use salvo::conn::tcp::TcpAcceptor;
use salvo::prelude::*;
use salvo::server::ServerHandle;
use salvo_compression::Compression;
use ssehub::salvo::LastEventId;
use ssehub::{Hub, SubscribeOptions};
use ssehub_core::protocol::events::EventsRequest;

/// `GET /events?topic=..` over a hub.
struct Events {
    hub: Hub,
}

#[handler]
impl Events {
    async fn handle(&self, last: LastEventId, req: &mut Request, res: &mut Response) {
        let request = match EventsRequest::parse(req.uri().query(), None) {
            Ok(request) => request,
            Err(e) => return res.render(StatusError::bad_request().brief(e.to_string())),
        };
        let options = SubscribeOptions::from(request).last_event_id(last.0);
        match self.hub.subscribe_with(options).await {
            Ok(subscription) => res.render(subscription),
            Err(e) => res.render(StatusError::bad_request().brief(e.to_string())),
        }
    }
}

/// Stops the server when dropped.
struct Stop(ServerHandle);

impl Drop for Stop {
    fn drop(&mut self) {
        self.0.stop_forceful();
    }
}

async fn start(hub: Hub) -> anyhow::Result<Server> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let router = Router::new()
        .hoop(Compression::new())
        .push(Router::with_path("events").get(Events { hub }));
    let server = salvo::Server::new(TcpAcceptor::try_from(listener)?);
    let handle = server.handle();
    tokio::spawn(server.serve(router));
    Ok(Server::new(addr, Stop(handle)))
}

conformance_suite!(start);
