//! The one conformance suite every `ObjectClient` backend runs (memory, filesystem, and later
//! S3, GCS, Azure). It panics with a message naming the broken rule.

use bytes::Bytes;

use crate::error::StorageError;
use crate::object::ObjectClient;

/// Runs every check against `client`, which must start empty.
pub async fn run_object_client_suite(client: &dyn ObjectClient) {
    assert!(client.list("").await.expect("list").is_empty(), "a new store must be empty");

    let keys = [
        "team-a/1f:16f5e66e800:16f60f4d400:1234abcd",
        "team-a/2e:16f5e66e800:16f60f4d400:9",
        "team-b/1f:16f5e66e800:16f60f4d400:1234abcd",
        "team*c/3:0:1:0",
        "team-ab/4:0:1:0",
    ];
    for (i, key) in keys.iter().enumerate() {
        let data = Bytes::from(format!("payload {i}").repeat(i + 1));
        client.put(key, data).await.expect("put");
    }
    for (i, key) in keys.iter().enumerate() {
        let data = client.get(key).await.expect("get");
        assert_eq!(data, Bytes::from(format!("payload {i}").repeat(i + 1)), "get returns what put stored");
    }

    let missing = client.get("team-a/0:0:0:0").await;
    assert!(matches!(missing, Err(StorageError::NotFound(_))), "missing object is NotFound: {missing:?}");

    let mut all: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    all.sort();
    assert_eq!(client.list("").await.expect("list"), all, "empty prefix lists every key");
    assert_eq!(
        client.list("team-a").await.expect("list"),
        vec![keys[0].to_string(), keys[1].to_string()],
        "a prefix is a path: team-a does not list team-ab"
    );
    assert_eq!(client.list("team-a/").await.expect("list").len(), 2, "a trailing slash is the same path");
    assert_eq!(
        client.list("team*c").await.expect("list"),
        vec![keys[3].to_string()],
        "keys come back as put"
    );
    assert!(client.list("nobody").await.expect("list").is_empty());

    client.put(keys[0], Bytes::from_static(b"replaced")).await.expect("overwrite");
    assert_eq!(client.get(keys[0]).await.expect("get"), Bytes::from_static(b"replaced"));

    client.put("team-a/empty:0:0:0", Bytes::new()).await.expect("empty object");
    assert!(client.get("team-a/empty:0:0:0").await.expect("get").is_empty());

    // Batches: many objects in one call, read back in the order asked for.
    let batch: Vec<(String, Bytes)> = (0..60)
        .map(|i| {
            (format!("team-batch/{i:x}:{:x}:1:0", i * 86_400_000_i64), Bytes::from(format!("object {i}")))
        })
        .collect();
    client.put_many(batch.clone(), 4).await.expect("put_many");
    let wanted: Vec<String> = batch.iter().rev().map(|(key, _)| key.clone()).collect();
    let got = client.get_many(&wanted, 4).await.expect("get_many");
    let expected: Vec<Bytes> = batch.iter().rev().map(|(_, data)| data.clone()).collect();
    assert_eq!(got, expected, "get_many answers in the order asked");
    assert!(client.get_many(&[], 4).await.expect("no keys").is_empty());
    let with_missing = [wanted[0].clone(), "team-batch/ff:0:1:0".to_string()];
    let missing = client.get_many(&with_missing, 4).await;
    assert!(matches!(missing, Err(StorageError::NotFound(_))), "a missing key fails get_many: {missing:?}");
    assert_eq!(client.list("team-batch").await.expect("list").len(), 60);
    for (key, _) in &batch {
        client.delete(key).await.expect("delete");
    }

    client.delete(keys[1]).await.expect("delete");
    client.delete(keys[1]).await.expect("deleting a missing object succeeds");
    assert!(matches!(client.get(keys[1]).await, Err(StorageError::NotFound(_))));
    assert_eq!(
        client.list("team-a").await.expect("list"),
        vec![keys[0].to_string(), "team-a/empty:0:0:0".into()]
    );
}
