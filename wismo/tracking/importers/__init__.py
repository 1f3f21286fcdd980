"""Pure shop-platform clients (Shopify, WooCommerce, ...) that return DTOs; built by the shops issue."""
