//! The conformance suite (`conformance/mod.rs`) against the actix-web
//! adapter's ready-made `GET /events` handler (`ssehub::actix::events`),
//! behind actix-web's `Compress` middleware.
#![cfg(feature = "actix")]

#[macro_use]
mod conformance;

use actix_web::dev::ServerHandle;
use actix_web::middleware::Compress;
use actix_web::{web, App, HttpServer};
use conformance::Server;
use ssehub::Hub;

/// Stops the server when dropped.
struct Stop(ServerHandle);

impl Drop for Stop {
    fn drop(&mut self) {
        // Sends the command at once; the returned future only waits for it.
        drop(self.0.stop(false));
    }
}

async fn start(hub: Hub) -> anyhow::Result<Server> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .wrap(Compress::default())
            .app_data(web::Data::new(hub.clone()))
            .route("/events", web::get().to(ssehub::actix::events))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(0)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    Ok(Server::new(addr, Stop(handle)))
}

conformance_suite!(start);
