-- A flash sale may limit how many units one buyer takes (docs/adr/0018-flash-sales.md): the reservation
-- function counts what each buyer already holds of the product (orders PENDING_PAYMENT through COMPLETED)
-- plus what the same pass accepted, under the product's row lock, and rejects an order that would pass
-- the limit as REJECTED_BUYER_LIMIT. The limit belongs to the sale: it needs flash-sale mode, and
-- switching the mode off clears it.
ALTER TABLE inventory ADD COLUMN buyer_limit integer CHECK (buyer_limit > 0);
ALTER TABLE inventory ADD CONSTRAINT inventory_buyer_limit_needs_flash_sale
    CHECK (buyer_limit IS NULL OR flash_sale);

ALTER TABLE orders DROP CONSTRAINT orders_status_check;
ALTER TABLE orders ADD CONSTRAINT orders_status_check
    CHECK (status IN ('QUEUED', 'PENDING_PAYMENT', 'PAID', 'FULFILLED', 'COMPLETED', 'PAYMENT_FAILED',
                      'CANCELLED', 'EXPIRED', 'REJECTED_OUT_OF_STOCK', 'REJECTED_BUYER_LIMIT'));
