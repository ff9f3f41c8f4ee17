//! Caches for the chunk store: chunk cache, index-query cache and write-dedupe cache, in-process
//! (size and TTL bounded) or memcached. A cache failure is a miss, never a failed read or write.
