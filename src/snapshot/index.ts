// Reading etcd snapshot files (bbolt) without etcd: see reader.ts.
export { SnapshotFormatError } from "./errors";
export { BoltFile, BoltMeta, BoltOpenOptions, Walk } from "./bolt";
export { ObjectKey, ValueEncoding, classifyValue, describeEncoding, parseObjectKey, resourceMatches } from "./kube";
export { EtcdMeta, KeyValue, Revision, decodeKeyValue, parseRevisionKey } from "./mvcc";
export {
    HashCheck,
    ObjectFilter,
    ObjectRevision,
    ResourceStats,
    RevisionRecord,
    Snapshot,
    SnapshotStats,
    latestObjects,
    objectHistory,
    objectValues,
    snapshotStats,
} from "./reader";
