//! quecto-net: the node-to-node wire protocol (flatbuffers) and transports (TCP, shared memory,
//! UCX). Empty until the cluster work starts: a standalone server needs no network between
//! shards, which talk over in-process channels (`quecto_engine::runtime`).
