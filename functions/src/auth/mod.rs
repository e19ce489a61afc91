pub mod authorizer;
