package io.coracle.runtime.streaming;

import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;

/** One byte stream from the server to the client inside a streaming connection (SPDY stream or WebSocket channel). */
interface OutboundStream {
    /** The connection the stream lives on. */
    Channel channel();

    /** Queues data without waiting (takes ownership of {@code data}); for the connection's event loop. */
    void send(ByteBuf data);

    /**
     * Sends data (takes ownership), then blocks while the connection cannot take more; false when
     * the connection is gone. Never call it on the event loop.
     */
    default boolean write(ByteBuf data) {
        send(data);
        return WritabilityGate.awaitWritable(channel());
    }

    /** No more data on this stream (SPDY: FIN; WebSocket v4: nothing to send). */
    void finish();
}
