package io.coracle.runtime.daemon.http2;

import java.nio.ByteBuffer;
import java.util.Arrays;

/** Outgoing frames assembled in one array, so that a response goes out in one write. */
final class FrameBuffer {
    private byte[] bytes;
    private int size;

    FrameBuffer(int capacity) {
        bytes = new byte[Math.max(capacity, 64)];
    }

    int size() {
        return size;
    }

    void clear() {
        size = 0;
    }

    ByteBuffer asByteBuffer() {
        return ByteBuffer.wrap(bytes, 0, size);
    }

    private void ensure(int more) {
        if (size + more > bytes.length) {
            bytes = Arrays.copyOf(bytes, Math.max(bytes.length * 2, size + more));
        }
    }

    /** The 9-byte frame header. */
    void header(int length, int type, int flags, int streamId) {
        ensure(Http2Codes.FRAME_HEADER + length);
        bytes[size++] = (byte) (length >>> 16);
        bytes[size++] = (byte) (length >>> 8);
        bytes[size++] = (byte) length;
        bytes[size++] = (byte) type;
        bytes[size++] = (byte) flags;
        int32(streamId & Integer.MAX_VALUE);
    }

    void int32(int v) {
        ensure(4);
        bytes[size++] = (byte) (v >>> 24);
        bytes[size++] = (byte) (v >>> 16);
        bytes[size++] = (byte) (v >>> 8);
        bytes[size++] = (byte) v;
    }

    void int16(int v) {
        ensure(2);
        bytes[size++] = (byte) (v >>> 8);
        bytes[size++] = (byte) v;
    }

    void bytes(byte[] src, int off, int len) {
        ensure(len);
        System.arraycopy(src, off, bytes, size, len);
        size += len;
    }

    /** A header block as one HEADERS frame, or HEADERS plus CONTINUATION frames when it exceeds {@code maxFrame}. */
    void headers(int streamId, byte[] block, boolean endStream, int maxFrame) {
        int first = Math.min(block.length, maxFrame);
        int flags = (endStream ? Http2Codes.FLAG_END_STREAM : 0) | (first == block.length ? Http2Codes.FLAG_END_HEADERS : 0);
        header(first, Http2Codes.HEADERS, flags, streamId);
        bytes(block, 0, first);
        for (int at = first; at < block.length; ) {
            int n = Math.min(block.length - at, maxFrame);
            header(n, Http2Codes.CONTINUATION, at + n == block.length ? Http2Codes.FLAG_END_HEADERS : 0, streamId);
            bytes(block, at, n);
            at += n;
        }
    }

    void data(int streamId, byte[] src, int off, int len, boolean endStream) {
        header(len, Http2Codes.DATA, endStream ? Http2Codes.FLAG_END_STREAM : 0, streamId);
        bytes(src, off, len);
    }

    void rstStream(int streamId, int code) {
        header(4, Http2Codes.RST_STREAM, 0, streamId);
        int32(code);
    }

    void windowUpdate(int streamId, int increment) {
        header(4, Http2Codes.WINDOW_UPDATE, 0, streamId);
        int32(increment);
    }

    void goAway(int lastStreamId, int code, String debug) {
        byte[] d = debug.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int n = Math.min(d.length, 256);
        header(8 + n, Http2Codes.GOAWAY, 0, 0);
        int32(lastStreamId);
        int32(code);
        bytes(d, 0, n);
    }
}
