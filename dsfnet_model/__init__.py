"""dsfnet_model"""
