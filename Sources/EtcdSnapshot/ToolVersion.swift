/// The version of etcd-snapshot, recorded in every metadata record.
package let toolVersion = "0.1.0"
