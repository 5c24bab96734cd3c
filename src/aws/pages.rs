//! The one pagination loop every paginated AWS read goes through: an absent or empty token ends
//! it, a token seen before is an error (never a loop).
//!
//! Not the SDK's `into_paginator()`: its pages are sent from inside the stream, past the shared
//! rate limiter, the retry layer and the call counters of [`super::call::Caller`], and it ends
//! silently on a repeated token where we want the fault reported.

use std::collections::HashSet;
use std::future::Future;

use super::call::{AwsError, ErrorClass};

/// At most this many pages per listing: an endpoint that keeps answering new tokens is an error,
/// not a loop that grows without bound (1,000 pages is 50,000 aliases at Lambda's page size).
pub const MAX_PAGES: usize = 1000;

/// Collects every page: `page(token)` sends one request and returns its items and next token.
pub async fn all<T, F, Fut>(operation: &'static str, mut page: F) -> Result<Vec<T>, AwsError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, Option<String>), AwsError>>,
{
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut token = None;
    loop {
        let (items, next) = page(token.take()).await?;
        out.extend(items);
        match next.filter(|t| !t.is_empty()) {
            None => return Ok(out),
            Some(_) if seen.len() + 1 >= MAX_PAGES => return Err(too_many(operation)),
            Some(t) if !seen.insert(t.clone()) => return Err(repeated(operation)),
            Some(t) => token = Some(t),
        }
    }
}

fn too_many(operation: &'static str) -> AwsError {
    AwsError {
        operation,
        code: "TooManyPages".into(),
        message: format!("the service returned more than {MAX_PAGES} pages; stopped paging"),
        status: None,
        class: ErrorClass::Transient,
    }
}

fn repeated(operation: &'static str) -> AwsError {
    AwsError {
        operation,
        code: "RepeatedPageToken".into(),
        message: "the service returned a page token it had already returned; stopped paging".into(),
        status: None,
        class: ErrorClass::Transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages served from a script of (items, next token) by the token asked for.
    async fn run(script: Vec<(Option<&'static str>, Vec<u32>, Option<&'static str>)>) -> Result<Vec<u32>, AwsError> {
        let calls = std::sync::Mutex::new(0);
        all("test:List", |token| {
            let (want, items, next) = script[*calls.lock().unwrap()].clone();
            *calls.lock().unwrap() += 1;
            assert_eq!(token.as_deref(), want, "sent the token of the previous page");
            async move { Ok((items, next.map(str::to_string))) }
        })
        .await
    }

    #[tokio::test]
    async fn an_endpoint_that_never_stops_paging_is_an_error_after_the_bound() {
        let mut n = 0u32;
        let err = all("test:List", |_| {
            n += 1;
            let next = format!("t{n}");
            async move { Ok((vec![0u8; 10], Some(next))) }
        })
        .await
        .unwrap_err();
        assert_eq!(err.code, "TooManyPages");
        assert_eq!(n as usize, MAX_PAGES);
    }

    #[tokio::test]
    async fn every_page_is_collected_until_the_token_is_absent() {
        let got = run(vec![(None, vec![1, 2], Some("a")), (Some("a"), vec![3], Some("b")), (Some("b"), vec![4], None)]);
        assert_eq!(got.await.unwrap(), vec![1, 2, 3, 4]);
    }

    #[tokio::test]
    async fn an_empty_token_ends_the_listing() {
        assert_eq!(run(vec![(None, vec![1], Some(""))]).await.unwrap(), vec![1]);
    }

    #[tokio::test]
    async fn a_repeated_token_is_an_error_not_a_loop() {
        let script = vec![(None, vec![1], Some("a")), (Some("a"), vec![2], Some("b")), (Some("b"), vec![3], Some("a"))];
        let e = run(script).await.unwrap_err();
        assert_eq!((e.code.as_str(), e.operation), ("RepeatedPageToken", "test:List"));
    }
}
