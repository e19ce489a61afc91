-- Flash sales (docs/adr/0018-flash-sales.md). A product in flash-sale mode takes orders into a queue
-- instead of locking its stock row in the request: the order is written QUEUED, and the reservation
-- function decides whole batches of the queue in one transaction, first come first served, to
-- PENDING_PAYMENT (stock reserved) or REJECTED_OUT_OF_STOCK.
ALTER TABLE inventory ADD COLUMN flash_sale boolean NOT NULL DEFAULT false;

ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('QUEUED', 'PENDING_PAYMENT', 'PAID', 'FULFILLED', 'COMPLETED', 'PAYMENT_FAILED',
                      'CANCELLED', 'EXPIRED', 'REJECTED_OUT_OF_STOCK'));

-- Orders waiting for a decision, one row each, in arrival order. A row lives from the order's
-- acceptance of the request until the reservation function decides it (then it is deleted in the same
-- transaction), so the table holds only the undecided backlog.
CREATE TABLE flash_sale_queue (
    position   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id   uuid NOT NULL UNIQUE REFERENCES orders (id),
    product_id uuid NOT NULL REFERENCES products (id),
    quantity   integer NOT NULL CHECK (quantity > 0),
    queued_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flash_sale_queue_product_idx ON flash_sale_queue (product_id, position);
