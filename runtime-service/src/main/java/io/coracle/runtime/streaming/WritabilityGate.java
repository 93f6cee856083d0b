package io.coracle.runtime.streaming;

import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.AttributeKey;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Lets threads that write into a connection (exec output pumps) wait while Netty's outbound
 * buffer is over its high-water mark, so a slow client slows the command down instead of
 * filling the daemon's memory. One per connection, first in the pipeline.
 */
final class WritabilityGate extends ChannelInboundHandlerAdapter {
    private static final AttributeKey<WritabilityGate> KEY = AttributeKey.valueOf("coracle.writability");

    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();

    static void install(Channel ch) {
        WritabilityGate gate = new WritabilityGate();
        ch.attr(KEY).set(gate);
        ch.pipeline().addFirst("writability", gate);
    }

    /** Waits until the channel is writable; false once it is closed. */
    static boolean awaitWritable(Channel ch) {
        if (ch.isWritable()) {
            return true;
        }
        if (ch.eventLoop().inEventLoop()) {
            throw new IllegalStateException("awaitWritable on the event loop would never return");
        }
        WritabilityGate gate = ch.attr(KEY).get();
        gate.lock.lock();
        try {
            while (ch.isActive() && !ch.isWritable()) {
                gate.changed.await(1, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        } finally {
            gate.lock.unlock();
        }
        return ch.isActive();
    }

    private void signal() {
        lock.lock();
        try {
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        signal();
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        signal();
        ctx.fireChannelInactive();
    }
}
