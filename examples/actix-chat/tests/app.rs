//! The chat's routes over real HTTP (the browser tests in `tests/browser`
//! drive its page); the test bodies are shared with the other chat examples.

/// Serves the chat on `127.0.0.1:0`; returns its base URL.
async fn start() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    tokio::spawn(actix_chat::serve(listener, actix_chat::hub())?);
    Ok(format!("http://{addr}"))
}

#[path = "../../axum-chat/tests/chat/mod.rs"]
mod chat;

#[tokio::test]
async fn a_message_reaches_every_open_stream() -> anyhow::Result<()> {
    chat::a_message_reaches_every_open_stream(start().await?).await
}

#[tokio::test]
async fn empty_and_long_messages_are_refused() -> anyhow::Result<()> {
    chat::empty_and_long_messages_are_refused(start().await?, actix_chat::MAX_TEXT_CHARS).await
}

#[tokio::test]
async fn each_visitor_gets_a_name() -> anyhow::Result<()> {
    chat::each_visitor_gets_a_name(start().await?).await
}

#[tokio::test]
async fn presence_lists_open_streams_and_a_leave_reaches_the_others() -> anyhow::Result<()> {
    chat::presence_lists_open_streams_and_a_leave_reaches_the_others(start().await?).await
}

#[tokio::test]
async fn stream_users_are_checked() -> anyhow::Result<()> {
    chat::stream_users_are_checked(start().await?).await
}
