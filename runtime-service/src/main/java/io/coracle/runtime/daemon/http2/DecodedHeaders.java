package io.coracle.runtime.daemon.http2;

import java.util.List;

/**
 * The fields of one decoded header block. overLimit: the list exceeded the decoder's maxHeaderListSize; fields
 * then holds only the fields decoded before the limit was crossed.
 */
public record DecodedHeaders(List<HeaderField> fields, boolean overLimit) {
}
