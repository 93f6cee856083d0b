package io.coracle.runtime.streaming;

import io.netty.buffer.ByteBuf;

/** Receives what the client sends on one stream or channel; called on the connection's event loop. */
interface InboundListener {
    InboundListener DISCARD = new InboundListener() {
        @Override
        public void data(ByteBuf data) {
        }

        @Override
        public void end() {
        }
    };

    /** Data; the listener must copy or retain what it keeps, the caller releases {@code data} afterwards. */
    void data(ByteBuf data);

    /** The client will send no more on this stream (SPDY FIN, WebSocket v5 close signal). */
    void end();

    /** The client reset the stream: by default, the same as the end. */
    default void reset() {
        end();
    }
}
