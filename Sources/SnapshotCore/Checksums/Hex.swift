/// Lower-case hex of bytes (digests in messages, records and S3 signatures).
package func hex(_ bytes: some Sequence<UInt8>) -> String {
  let digits: [UInt8] = Array("0123456789abcdef".utf8)
  var out: [UInt8] = []
  out.reserveCapacity(bytes.underestimatedCount * 2)
  for b in bytes {
    out.append(digits[Int(b >> 4)])
    out.append(digits[Int(b & 0xF)])
  }
  return String(decoding: out, as: UTF8.self)
}
